// safetensors checkpoints and the strict JSON reader under them: round trips of every dtype with
// metadata, the exact bytes we write, the file PyTorch wrote (tests/data/reference.safetensors), and
// malformed files (truncated, lying, invalid JSON, bad entries, random damage) refused with a
// std::runtime_error that names the file and the problem.
//
// The files these tests write stay in safetensors_test_files/ under ctest's working directory (the
// build tree), so they can be inspected or loaded in Python afterwards.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "autograd/autograd.hpp"
#include "nn/json.hpp"
#include "nn/safetensors.hpp"
#include "test_util.hpp"

using namespace ddpm;
using ddpm::test::check_throws_with;
using ddpm::test::check_throws_with_all;

namespace {

std::string test_file(const std::string& name) {
  std::filesystem::create_directories("safetensors_test_files");
  return "safetensors_test_files/" + name;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot open ", path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE_MESSAGE(out, "cannot write ", path);
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int k = 0; k < 8; ++k) s[k] = char((n >> (8 * k)) & 0xFF);
  return s;
}

// The header length N stored in a file's first 8 bytes.
uint64_t header_length(const std::string& bytes) {
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | static_cast<unsigned char>(bytes[size_t(k)]);
  return n;
}

// A file from raw pieces: the header's length, the header (unpadded) and the data. The reader tests
// build files no writer would.
std::string raw_file(const std::string& header, const std::string& data = "") {
  return le64(header.size()) + header + data;
}

// `bytes` written to `name` must be refused with a std::runtime_error naming the file and `problem`.
void check_refused(const std::string& name, const std::string& bytes, const std::string& problem) {
  std::string path = test_file(name);
  write_bytes(path, bytes);
  check_throws_with_all<std::runtime_error>([&] { load_safetensors(path); }, {"'" + path + "'", problem});
}

// The bytes of a tensor's elements in row-major order.
std::string element_bytes(const Tensor& t) {
  Tensor c = t.cpu().contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), c.nbytes());
}

// One tensor of each dtype, with edge values, plus a 0-dim, an empty and a non-contiguous tensor.
std::vector<std::pair<std::string, Tensor>> every_dtype() {
  std::vector<double> values = {-2.5, -1.0, 0.0, 0.5, 1.0, 3.25};
  return {
      {"bool", tensor({1, 0, 0, 1, 1, 0}, {2, 3}, DType::Bool)},
      {"f32", tensor({1e-38, -3.0e38, 0.1, -0.0, 1.0 / 3.0, 7.0}, {2, 3}, DType::Float32)},
      {"f64", tensor({1e-308, -1.7e308, 0.1, -0.0, 1.0 / 3.0, 5e-324}, {3, 2}, DType::Float64)},
      {"bf16", tensor(values, {2, 3}, DType::BFloat16)},
      {"f16", tensor(values, {6}, DType::Float16)},
      {"i32", Tensor::from_vector<int32_t>({INT32_MIN, -1, 0, 1, INT32_MAX}, {5})},
      {"i64", Tensor::from_vector<int64_t>({INT64_MIN, -(int64_t(1) << 40) - 1, 0, INT64_MAX}, {2, 2})},
      {"scalar", scalar_tensor(-4.75, DType::Float64)},
      {"empty", zeros({0, 3}, DType::Float32)},
      {"transposed", ops::transpose(tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float32), 0, 1)},
  };
}

}  // namespace

TEST_SUITE("cpu") {

// ---- The JSON reader ---------------------------------------------------------------------------------

TEST_CASE("safetensors json parses objects arrays strings and integers") {
  json::Value v = json::parse(R"( {"a": [1, -2, 0, 9223372036854775807, -9223372036854775808], "b": {}, )"
                              R"("c": "x\"\\\/\b\f\n\r\t\u00e9\u20AC\ud83d\ude00", "d": []})" "\r\n\t");
  REQUIRE(v.is_object());
  REQUIRE(v.members.size() == 4);
  CHECK(v.members[0].first == "a");  // file order is kept
  const json::Value* a = v.find("a");
  REQUIRE(a);
  REQUIRE(a->items.size() == 5);
  CHECK(a->items[1].integer == -2);
  CHECK(a->items[3].integer == INT64_MAX);
  CHECK(a->items[4].integer == INT64_MIN);
  CHECK(v.find("b")->is_object());
  CHECK(v.find("d")->items.empty());
  // é is U+00E9, € U+20AC, and the surrogate pair is U+1F600, each in UTF-8.
  CHECK(v.find("c")->text == "x\"\\/\b\f\n\r\t\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  CHECK(v.find("missing") == nullptr);
}

TEST_CASE("safetensors json quote round trips through parse") {
  std::string s = std::string("tab\there \"quoted\" back\\slash \x01\x1f ") + "\xE2\x9C\x93 end";
  std::string quoted = json::quote(s);
  CHECK(quoted.find('\x01') == std::string::npos);  // control characters are escaped
  CHECK(json::parse(quoted).text == s);
  CHECK(json::quote(R"(a"b)") == R"("a\"b")");
}

TEST_CASE("safetensors json refuses malformed text with the byte position") {
  struct Case {
    std::string text, problem;
  };
  std::vector<Case> cases = {
      {"", "expected a value"},
      {"{", "expected a string key"},
      {R"({"a" 1})", "expected ':'"},
      {R"({"a":1,})", "expected a string key"},
      {"[1,]", "expected a value"},
      {"[1 2]", "expected ']'"},
      {R"({"a":1} x)", "after the JSON value"},
      {R"({"a":1}})", "after the JSON value"},
      {R"({"a":1,"a":2})", R"(duplicate key "a")"},
      {"{'a':1}", "expected a string key"},
      {"[1.5]", "only integers"},
      {"[1e3]", "only integers"},
      {"[01]", "leading zeros"},
      {"[-]", "expected a digit"},
      {"[9223372036854775808]", "does not fit in 64 bits"},
      {"[-9223372036854775809]", "does not fit in 64 bits"},
      {"[true]", "true, false and null"},
      {"[null]", "true, false and null"},
      {R"(["abc])", "unterminated string"},
      {R"(["a\q"])", "invalid escape"},
      {R"(["\u12g4"])", "four hex digits"},
      {R"(["\ud800"])", "without a low surrogate"},
      {R"(["\udc00"])", "lone low surrogate"},
      {"[\"a\tb\"]", "control character"},
      {"[\"\xff\"]", "invalid UTF-8"},
      {"[\"\xC0\xAF\"]", "invalid UTF-8"},          // an overlong '/'
      {"[\"\xED\xA0\x80\"]", "invalid UTF-8"},      // an encoded surrogate
      {"[\"\xF4\x90\x80\x80\"]", "invalid UTF-8"},  // above U+10FFFF
      {"[\"\xE2\x82\"]", "invalid UTF-8"},          // cut short
      {std::string(json::kMaxDepth + 1, '['), "nest deeper"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    check_throws_with_all<json::ParseError>([&] { json::parse(c.text); }, {"at byte ", c.problem});
  }
  // Nesting up to the limit is fine.
  std::string deep = std::string(json::kMaxDepth, '[') + std::string(json::kMaxDepth, ']');
  CHECK(json::parse(deep).is_array());
}

// ---- Writing and reading back ------------------------------------------------------------------------

TEST_CASE("safetensors round trip of every dtype with metadata") {
  std::vector<std::pair<std::string, Tensor>> tensors = every_dtype();
  std::map<std::string, std::string> metadata = {
      {"config", R"({"ch": 16, "ch_mult": [1, 2]})"},
      {"escapes", "line\nbreak\ttab \"quote\" back\\slash \x01"},
      {"unicode", "\xC3\x9F \xE2\x86\x92 \xF0\x9F\x98\x80"},
      {"", "an empty key"},
  };
  std::string path = test_file("every_dtype.safetensors");
  save_safetensors(path, tensors, metadata);
  SafetensorsFile file = load_safetensors(path);

  CHECK(file.path == path);
  CHECK(file.metadata == metadata);
  REQUIRE(file.tensors.size() == tensors.size());
  for (const auto& [name, original] : tensors) {
    CAPTURE(name);
    REQUIRE(file.contains(name));
    const Tensor& loaded = file.at(name);
    CHECK(loaded.dtype() == original.dtype());
    CHECK(loaded.shape() == original.shape());
    CHECK(loaded.device().is_cpu());
    CHECK(loaded.is_contiguous());
    CHECK(element_bytes(loaded) == element_bytes(original));  // bit for bit, -0.0 and denormals too
  }
  CHECK(file.at("i64").to_vector<int64_t>() == std::vector<int64_t>{INT64_MIN, -(int64_t(1) << 40) - 1, 0, INT64_MAX});
  CHECK(file.at("transposed").to_vector<double>() == std::vector<double>{1, 4, 2, 5, 3, 6});
  CHECK(file.at("scalar").dim() == 0);
  check_throws_with_all<std::runtime_error>([&] { file.at("nope"); }, {path, R"(no tensor "nope")"});
}

TEST_CASE("safetensors writes the exact bytes of the format") {
  save_safetensors(test_file("exact.safetensors"),
                   {{"x", Tensor::from_vector<int32_t>({1, -2}, {2})}, {"flag", tensor({1}, {1}, DType::Bool)}},
                   {{"k", "v"}});
  std::string header =
      R"({"__metadata__":{"k":"v"},"x":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},)"
      R"("flag":{"dtype":"BOOL","shape":[1],"data_offsets":[8,9]}})";
  header.append((8 - header.size() % 8) % 8, ' ');  // padded so the data starts 8-byte aligned
  std::string data("\x01\x00\x00\x00\xfe\xff\xff\xff\x01", 9);
  CHECK(read_bytes(test_file("exact.safetensors")) == le64(header.size()) + header + data);
}

TEST_CASE("safetensors rewrite of a loaded file is byte identical and aligned") {
  std::string first = test_file("rewrite_first.safetensors"), second = test_file("rewrite_second.safetensors");
  save_safetensors(first, every_dtype(), {{"step", "12"}});
  SafetensorsFile file = load_safetensors(first);
  // In the original order, so the writer sees the same input and must write the same bytes.
  std::vector<std::pair<std::string, Tensor>> again;
  for (const auto& [name, t] : every_dtype()) again.emplace_back(name, file.at(name));
  save_safetensors(second, again, file.metadata);
  std::string bytes = read_bytes(first);
  CHECK(bytes == read_bytes(second));

  // The header is padded to 8 bytes and each tensor starts at a multiple of its element size.
  uint64_t n = header_length(bytes);
  CHECK(n % 8 == 0);
  json::Value header = json::parse(bytes.substr(8, n));
  for (const auto& [name, info] : header.members) {
    if (name == "__metadata__") continue;
    CAPTURE(name);
    CHECK(info.find("data_offsets")->items[0].integer % int64_t(file.at(name).element_size()) == 0);
  }
}

TEST_CASE("safetensors save replaces a file atomically and leaves no temporary file") {
  std::filesystem::path dir = test_file("atomic");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string path = (dir / "ckpt.safetensors").string();
  save_safetensors(path, {{"a", ones({3})}});
  save_safetensors(path, {{"b", zeros({2})}});
  SafetensorsFile file = load_safetensors(path);
  CHECK(file.contains("b"));
  CHECK_FALSE(file.contains("a"));
  int entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    CHECK(entry.path().filename() == "ckpt.safetensors");
    ++entries;
  }
  CHECK(entries == 1);
  // A directory that does not exist: an error naming the path, and nothing written.
  std::string nowhere = (dir / "no_such_dir" / "ckpt.safetensors").string();
  check_throws_with_all<std::runtime_error>([&] { save_safetensors(nowhere, {{"a", ones({1})}}); },
                                            {"save_safetensors", nowhere, "cannot create"});
}

TEST_CASE("safetensors save refuses bad names and undefined tensors") {
  std::string path = test_file("bad_names.safetensors");
  check_throws_with<std::invalid_argument>([&] { save_safetensors(path, {{"__metadata__", ones({1})}}); },
                                           "reserved");
  check_throws_with<std::invalid_argument>(
      [&] { save_safetensors(path, {{"w", ones({1})}, {"w", ones({2})}}); }, R"(two tensors are named "w")");
  check_throws_with<std::invalid_argument>([&] { save_safetensors(path, {{"w", Tensor()}}); },
                                           R"(tensor "w" is undefined)");
  check_throws_with<std::invalid_argument>([&] { save_safetensors(path, {{"bad\xff", ones({1})}}); },
                                           "not valid UTF-8");
  check_throws_with<std::invalid_argument>(
      [&] { save_safetensors(path, {{"w", ones({1})}}, {{"k", "bad\xff"}}); }, R"(metadata entry "k")");
  CHECK_FALSE(std::filesystem::exists(path));
}

// ---- The file PyTorch wrote ----------------------------------------------------------------------------

TEST_CASE("safetensors reads the reference file written by python") {
  std::string path = std::filesystem::path(__FILE__).parent_path().string() + "/data/reference.safetensors";
  SafetensorsFile ref = load_safetensors(path);
  CHECK(ref.metadata.at("generator").find("make_reference.py") != std::string::npos);
  CHECK(ref.at("conv2d_s1p1.x").shape() == Shape{2, 3, 6, 5});
  CHECK(ref.at("conv2d_s1p1.x").dtype() == DType::Float64);

  // One tensor of each dtype holding the same values: PyTorch's byte layouts are ours.
  std::vector<double> values = {-2.5, -1.0, 0.0, 0.5, 1.0, 3.25};
  for (const char* name : {"dtypes.f32", "dtypes.f64", "dtypes.bf16", "dtypes.f16"}) {
    CAPTURE(name);
    CHECK(ref.at(name).shape() == Shape{2, 3});
    CHECK(ref.at(name).to_vector<double>() == values);
  }
  CHECK(ref.at("dtypes.bf16").dtype() == DType::BFloat16);
  CHECK(ref.at("dtypes.f16").dtype() == DType::Float16);
  CHECK(ref.at("dtypes.i32").to_vector<int32_t>() == std::vector<int32_t>{INT32_MIN, -1, 0, 1, 7, INT32_MAX});
  CHECK(ref.at("dtypes.i64").to_vector<int64_t>() ==
        std::vector<int64_t>{-(int64_t(1) << 62) - 3, -1, 0, 1, (int64_t(1) << 40) + 1, INT64_MAX});
  CHECK(ref.at("dtypes.bool").dtype() == DType::Bool);
  CHECK(ref.at("dtypes.bool").to_vector<double>() == std::vector<double>{1, 0, 0, 1, 1, 0});
  CHECK(ref.at("dtypes.scalar_f64").dim() == 0);
  CHECK(ref.at("dtypes.scalar_f64").item() == 1.5);
  CHECK(ref.at("dtypes.empty_f32").shape() == Shape{0, 3});
}

// ---- Malformed files -----------------------------------------------------------------------------------

TEST_CASE("safetensors refuses a missing file") {
  std::string path = test_file("does_not_exist.safetensors");
  std::filesystem::remove(path);
  check_throws_with_all<std::runtime_error>([&] { load_safetensors(path); }, {path, "does not exist"});
}

TEST_CASE("safetensors refuses truncated files") {
  std::string path = test_file("whole.safetensors");
  save_safetensors(path, {{"w", ones({4, 4})}, {"b", zeros({4}, DType::Float64)}}, {{"k", "v"}});
  std::string whole = read_bytes(path);
  const uint64_t data_start = 8 + header_length(whole);  // 96 bytes of data follow
  struct Cut {
    uint64_t length;
    std::string problem;
  };
  std::vector<Cut> cuts = {
      {0, "too few for the 8-byte header length"},
      {5, "too few for the 8-byte header length"},
      {8, "runs past the end of the file"},
      {8 + (data_start - 8) / 2, "runs past the end of the file"},
      {data_start - 1, "runs past the end of the file"},
      {data_start, "run past the end of the data"},
      {data_start + 40, "run past the end of the data"},
      {whole.size() - 1, "run past the end of the data"},
  };
  for (const Cut& cut : cuts) {
    CAPTURE(cut.length);
    check_refused("truncated.safetensors", whole.substr(0, cut.length), cut.problem);
  }
  // Bytes appended after the last tensor are refused too: the tensors must cover the data exactly.
  check_refused("appended.safetensors", whole + "x", "the tensors cover 96 bytes of data, but the file holds 97");
}

TEST_CASE("safetensors refuses a lying header length") {
  std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  std::string body = header + std::string(4, '\0');
  check_refused("lying_length.safetensors", le64(body.size() + 1) + body, "runs past the end of the file");
  check_refused("lying_length.safetensors", le64(kSafetensorsMaxHeaderBytes + 1) + body, "above the limit");
  check_refused("lying_length.safetensors", le64(uint64_t(1) << 63) + body, "above the limit");
  check_refused("lying_length.safetensors", le64(UINT64_MAX) + body, "above the limit");
  // Shorter than the header: the JSON ends early.
  check_refused("lying_length.safetensors", le64(header.size() - 2) + body, "not valid JSON");
  check_refused("lying_length.safetensors", le64(0) + body, "not valid JSON");
}

TEST_CASE("safetensors refuses headers that are not valid JSON") {
  std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})", "expected '}'"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} trailing)", "after the JSON value"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{}})", "duplicate key"},
      {R"({"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})", "only integers"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],}})", "expected a string key"},
      {R"({"a":{"dtype":"F\x32","shape":[1],"data_offsets":[0,4]}})", "invalid escape"},
      {"{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "invalid UTF-8"},
      {std::string("{\"a\0\":1}", 8), "control character"},
  };
  for (const auto& [header, problem] : cases) {
    CAPTURE(header);
    check_refused("bad_json.safetensors", raw_file(header, std::string(4, '\0')), "not valid JSON");
    check_refused("bad_json.safetensors", raw_file(header, std::string(4, '\0')), problem);
  }
  check_refused("bad_json.safetensors", raw_file("[]"), "must be a JSON object, got an array");
}

TEST_CASE("safetensors refuses bad tensor entries") {
  const std::string f32x2 = std::string(8, '\0');
  struct Case {
    std::string header, data, problem;
  };
  std::vector<Case> cases = {
      {R"({"a":[1]})", f32x2, R"(tensor "a": expected an object)"},
      {R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})", f32x2, R"(unknown dtype "U8")"},
      {R"({"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})", f32x2, R"(unknown dtype "f32")"},
      {R"({"a":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", f32x2, "dtype must be a string"},
      {R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", f32x2, "needs the fields dtype, shape and data_offsets"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", f32x2, R"(unknown field "x")"},
      {R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", f32x2, "shape must be an array"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f32x2, "non-negative integer, got -2"},
      {R"({"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", f32x2, R"(non-negative integer, got "2")"},
      {R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,2],"data_offsets":[0,8]}})", f32x2, "7 dims"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", f32x2, "must be an array [begin, end]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", f32x2, "must be an array [begin, end]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", f32x2, "begin must be a non-negative"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", f32x2, "end before they begin"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", f32x2, "run past the end of the data (8 bytes)"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,9223372036854775807]}})", f32x2,
       "run past the end of the data"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32x2,
       "needs 12 bytes, but data_offsets [0, 8] hold 8"},
      {R"({"a":{"dtype":"F64","shape":[1099511627776,1099511627776,1099511627776],"data_offsets":[0,8]}})", f32x2,
       "more than 2^48 elements"},
      // A zero-sized dim beside huge ones holds 0 bytes, but its strides would overflow int64.
      {R"({"a":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})", "",
       "more than 2^48 elements (counting zero-sized dims as 1)"},
      {R"({"a":{"dtype":"F32","shape":[9223372036854775807,0],"data_offsets":[0,0]}})", "",
       "more than 2^48 elements"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       std::string(12, '\0'), R"(tensors "a" and "b" overlap)"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
       std::string(12, '\0'), "bytes [4, 8) of the data belong to no tensor"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f32x2,
       "bytes [0, 4) of the data belong to no tensor"},
      {R"({"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", std::string("\x01\x02", 2),
       "BOOL element 1 is 2, expected 0 or 1"},
      {R"({"__metadata__":{"k":1}})", "", R"(__metadata__ value "k" must be a string, got 1)"},
      {R"({"__metadata__":["k"]})", "", "__metadata__ must be an object of strings"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.header);
    check_refused("bad_entry.safetensors", raw_file(c.header, c.data), c.problem);
  }
  // The same entries well formed are read: the cases above fail for the reason they name.
  SafetensorsFile good = [&] {
    std::string path = test_file("good_entry.safetensors");
    write_bytes(path, raw_file(R"({"__metadata__":{},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("z":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}})",
                               f32x2));
    return load_safetensors(path);
  }();
  CHECK(good.at("a").to_vector<double>() == std::vector<double>{0, 0});
  CHECK(good.at("z").numel() == 0);
}

TEST_CASE("safetensors survives random damage") {
  // A valid file, then 500 damaged copies of it (a fixed seed, so a failure reproduces): each must
  // load or be refused with std::runtime_error, never crash or throw anything else.
  std::string path = test_file("damaged.safetensors");
  save_safetensors(path,
                   {{"w", tensor(test::dyadic_values(12), {3, 4})},
                    {"b", tensor({1, 0, 1}, {3}, DType::Bool)},
                    {"i", Tensor::from_vector<int64_t>({5, -6}, {2})},
                    {"h", tensor({0.5, 1.5}, {2}, DType::Float16)}},
                   {{"step", "7"}});
  const std::string original = read_bytes(path);
  const uint64_t header_end = 8 + header_length(original);

  std::mt19937_64 rng(20240611);
  auto uniform = [&](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
  int loaded = 0, refused = 0;
  for (int trial = 0; trial < 500; ++trial) {
    std::string bytes = original;
    switch (uniform(5)) {
      case 0:  // overwrite a few bytes of the header, where the parsing happens
        for (uint64_t k = 1 + uniform(3); k > 0; --k) bytes[8 + uniform(header_end - 8)] = char(uniform(256));
        break;
      case 1:  // overwrite a byte anywhere
        bytes[uniform(bytes.size())] = char(uniform(256));
        break;
      case 2:  // cut the file short
        bytes.resize(uniform(bytes.size()));
        break;
      case 3:  // insert or delete a byte in the header
        if (uniform(2)) bytes.insert(bytes.begin() + long(8 + uniform(header_end - 8)), char(uniform(256)));
        else bytes.erase(bytes.begin() + long(8 + uniform(header_end - 8)));
        break;
      default:  // replace a JSON character with another that often keeps the text valid JSON
        bytes[8 + uniform(header_end - 8)] = R"(0123456789[]{},:" )"[uniform(18)];
        break;
    }
    write_bytes(path, bytes);
    try {
      SafetensorsFile file = load_safetensors(path);
      // What loads is consistent: the tensors account for every byte after the header.
      uint64_t total = 0;
      for (const auto& [name, t] : file.tensors) total += t.nbytes();
      CHECK(total == bytes.size() - 8 - header_length(bytes));
      ++loaded;
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()).find(path) != std::string::npos);
      ++refused;
    } catch (const std::exception& e) {
      FAIL_CHECK("trial ", trial, ": not a std::runtime_error: ", e.what());
    }
  }
  MESSAGE(loaded, " damaged files loaded, ", refused, " refused");
  CHECK(loaded + refused == 500);
  CHECK(refused > 250);  // most damage is caught
  CHECK(loaded > 0);     // and damage that keeps the file valid (a changed value, a renamed tensor) loads
}

}  // TEST_SUITE
