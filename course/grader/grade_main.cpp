// The course grader's main: doctest with a reporter of our own. Run by ctest, each check is a test
// case as any other. Run as `course_grade --grade [aN] [--json FILE]` (course/grade.sh does), it prints
// the points of each assignment and the reason for each failed check, and writes FILE in the format
// Gradescope's autograders read: {"score": ..., "tests": [{"name", "score", "max_score", "output"}]}.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace {

struct Check {
  std::string name, assignment, output;
  double max_score = 0;
  bool passed = false;
};
std::vector<Check> g_checks;
std::string g_json_path;

// "a1 softplus forward matches the reference (2 points)" -> assignment a1, 2 points
void parse_name(Check& c) {
  std::smatch m;
  if (std::regex_search(c.name, m, std::regex("\\((\\d+(\\.\\d+)?) points?\\)"))) c.max_score = std::stod(m[1]);
  c.assignment = c.name.substr(0, c.name.find(' '));
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\', out += ch;
    else if (ch == '\n') out += "\\n";
    else if (static_cast<unsigned char>(ch) < 0x20) out += ' ';
    else out += ch;
  }
  return out;
}

struct GradeReporter : public doctest::IReporter {
  explicit GradeReporter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_case_start(const doctest::TestCaseData& tc) override {
    g_checks.push_back({tc.m_name, "", "", 0, false});
    parse_name(g_checks.back());
  }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats& st) override {
    g_checks.back().passed = st.testCaseSuccess;
    if (!st.testCaseSuccess && g_checks.back().output.empty()) g_checks.back().output = "failed";
  }
  void test_case_exception(const doctest::TestCaseException& e) override {
    g_checks.back().output += std::string("stopped by an error: ") + e.error_string.c_str() + "\n";
  }
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData& a) override {
    if (!a.m_failed) return;
    std::string why = a.m_threw ? std::string("threw: ") + a.m_exception.c_str() : a.m_decomp.c_str();
    g_checks.back().output += std::string(a.m_expr) + ": " + why + "\n";
  }
  void log_message(const doctest::MessageData& m) override {
    if (m.m_severity & doctest::assertType::is_warn) return;  // MESSAGE: not a failure
    g_checks.back().output += std::string(m.m_string.c_str()) + "\n";
  }
  void test_case_skipped(const doctest::TestCaseData&) override {}

  void test_run_end(const doctest::TestRunStats&) override {
    std::map<std::string, std::pair<double, double>> per;  // assignment -> (score, max)
    double score = 0, max = 0;
    for (const Check& c : g_checks) {
      per[c.assignment].first += c.passed ? c.max_score : 0;
      per[c.assignment].second += c.max_score;
      score += c.passed ? c.max_score : 0, max += c.max_score;
    }
    for (const auto& [a, p] : per) {
      std::printf("%s: %g / %g points\n", a.c_str(), p.first, p.second);
      for (const Check& c : g_checks)
        if (c.assignment == a)
          std::printf("  %s %s\n%s", c.passed ? "PASS" : "FAIL", c.name.c_str(),
                      c.passed ? "" : ("       " + std::regex_replace(c.output, std::regex("\n(?=.)"), "\n       ")).c_str());
    }
    std::printf("total: %g / %g points\n", score, max);
    if (g_json_path.empty()) return;
    std::ofstream f(g_json_path);
    f << "{\n  \"score\": " << score << ",\n  \"tests\": [\n";
    for (size_t i = 0; i < g_checks.size(); ++i) {
      const Check& c = g_checks[i];
      f << "    {\"name\": \"" << json_escape(c.name) << "\", \"score\": " << (c.passed ? c.max_score : 0)
        << ", \"max_score\": " << c.max_score << ", \"output\": \"" << json_escape(c.passed ? "" : c.output) << "\"}"
        << (i + 1 < g_checks.size() ? "," : "") << "\n";
    }
    f << "  ]\n}\n";
    std::printf("wrote %s\n", g_json_path.c_str());
  }
};

}  // namespace

DOCTEST_REGISTER_REPORTER("grade", 1, GradeReporter);

int main(int argc, char** argv) {
  bool grade = false;
  std::string assignment;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--grade") == 0) grade = true;
    else if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) g_json_path = argv[++i];
    else if (grade && argv[i][0] != '-') assignment = argv[i];
    else rest.push_back(argv[i]);
  }
  doctest::Context context;
  context.applyCommandLine(int(rest.size()), rest.data());
  if (grade) {
    context.setOption("reporters", "grade");
    if (!assignment.empty()) context.addFilter("test-case", (assignment + " *").c_str());
  }
  const int failed = context.run();
  return grade ? 0 : failed;  // graded: the points say it all; under ctest a failed check fails the test
}
