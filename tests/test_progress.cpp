// The progress bar written to a log (not a terminal): a line every 5%, and the last line once.
#include <sstream>
#include <string>

#include "diffusion/progress.hpp"
#include "test_util.hpp"

using namespace ddpm;

TEST_SUITE("cpu") {

TEST_CASE("progress bar in a log prints each 5 percent and its last line once") {
  std::ostringstream log;
  ProgressBar bar(log, 0, 40, "train", 8, "img");
  for (int64_t k = 1; k <= 40; ++k) bar.update(k, "loss 0.5");
  bar.finish("loss 0.25");
  std::istringstream lines(log.str());
  int64_t count = 0, final_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    ++count;
    if (line.find("40/40") != std::string::npos) {
      ++final_lines;
      CHECK(line.find("loss 0.25") != std::string::npos);  // finish()'s words, not the last update's
    }
  }
  CHECK(final_lines == 1);
  CHECK(count == 20);  // 2/40, 4/40, ..., 38/40 (every 5%), then the final line
}

TEST_CASE("progress bar of a loop stopped early ends at the step it reached") {
  std::ostringstream log;
  ProgressBar bar(log, 5, 100, "train", 1, "img");  // a resumed run: from 5 to 100
  for (int64_t k = 6; k <= 12; ++k) bar.update(k);
  bar.finish();  // stopped at 12 (Ctrl-C)
  const std::string text = log.str();
  const std::string last = text.substr(text.rfind("train ["));
  CHECK(last.find("12/100") != std::string::npos);
  CHECK(text.find("100/100") == std::string::npos);
}

}  // TEST_SUITE
