// Data loading: IDX files (raw, gzipped, malformed), padding, Fashion-MNIST, image folders and the
// deterministic, prefetching BatchLoader.
#include <stb/stb_image_write.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "diffusion/data.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace ddpm;
using ddpm::test::check_throws_with;
using ddpm::test::check_throws_with_all;
using TempDir = ddpm::test::TempDir;

namespace {


// An IDX file: magic 0 0, type code, dims count, big-endian dims, then `pixels`.
std::string idx_bytes(const std::vector<uint32_t>& dims, const std::vector<unsigned char>& pixels,
                      unsigned char type_code = 0x08) {
  std::string b = {0, 0, char(type_code), char(dims.size())};
  for (uint32_t d : dims) {
    b += char(d >> 24);
    b += char(d >> 16);
    b += char(d >> 8);
    b += char(d);
  }
  b.append(pixels.begin(), pixels.end());
  return b;
}

void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  gzclose(f);
}

std::vector<unsigned char> ramp(size_t n) {
  std::vector<unsigned char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>((i * 37 + 3) % 256);
  return v;
}

// A solid-color RGB image w x h, with the pixels of rows y < split_row (or columns x < split_col)
// set to `first` and the others to `second`.
std::vector<unsigned char> two_color_image(int w, int h, std::array<unsigned char, 3> first,
                                           std::array<unsigned char, 3> second, int split_row, int split_col) {
  std::vector<unsigned char> px(size_t(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        px[size_t((y * w + x) * 3 + c)] = (y < split_row && x < split_col) ? first[size_t(c)] : second[size_t(c)];
  return px;
}

// Images [N, 1, 2, 3] whose every pixel of image i is i: a batch's rows tell which images it holds.
Tensor numbered_images(int64_t n) {
  std::vector<float> v;
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < 6; ++k) v.push_back(float(i));
  return Tensor::from_vector(v, {n, 1, 2, 3});
}

// The image ids of a batch of numbered_images.
std::vector<int64_t> ids_of(const Tensor& batch) {
  std::vector<float> v = batch.to_vector<float>();
  std::vector<int64_t> ids;
  const size_t per = size_t(batch.numel() / batch.size(0));
  for (size_t i = 0; i < v.size(); i += per) ids.push_back(int64_t(v[i]));
  return ids;
}

bool same_values(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector<float>() == b.to_vector<float>();
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("load_idx_images reads raw and gzipped files") {
  TempDir dir;
  const std::vector<unsigned char> pixels = ramp(3 * 2 * 4);
  const std::string bytes = idx_bytes({3, 2, 4}, pixels);
  write_raw(dir.file("raw-idx3-ubyte"), bytes);
  write_gz(dir.file("packed-idx3-ubyte.gz"), bytes);

  std::vector<double> expected;
  for (unsigned char p : pixels) expected.push_back(double(p) / 127.5 - 1.0);
  for (const char* name : {"raw-idx3-ubyte", "packed-idx3-ubyte.gz"}) {
    CAPTURE(name);
    Tensor x = load_idx_images(dir.file(name));
    CHECK(x.shape() == Shape{3, 1, 2, 4});
    CHECK(x.dtype() == DType::Float32);
    ddpm::test::check_values(x, expected, 1e-7);
  }
  // Padding while decoding equals padding afterwards (odd margins: 2x4 in 5x5).
  for (int64_t size : {4, 5, 9}) {
    CAPTURE(size);
    CHECK(same_values(load_idx_images(dir.file("packed-idx3-ubyte.gz"), size),
                      pad_images(load_idx_images(dir.file("packed-idx3-ubyte.gz")), size)));
  }
  check_throws_with_all<std::invalid_argument>([&] { load_idx_images(dir.file("raw-idx3-ubyte"), 3); },
                                               {dir.file("raw-idx3-ubyte"), "larger than the image size 3"});
  // 0 -> -1 and 255 -> 1 exactly.
  write_raw(dir.file("ends"), idx_bytes({1, 1, 2}, {0, 255}));
  ddpm::test::check_values(load_idx_images(dir.file("ends")), {-1.0, 1.0}, 0.0);
}

TEST_CASE("load_idx_images reads 4-dim images as NCHW") {
  TempDir dir;
  // [N=2, H=2, W=3, C=3] with byte value 100 * c + 10 * y + x + 50 * n.
  std::vector<unsigned char> px;
  for (int n = 0; n < 2; ++n)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 3; ++x)
        for (int c = 0; c < 3; ++c) px.push_back(static_cast<unsigned char>(50 * n + 10 * y + x + 60 * c));
  write_gz(dir.file("rgb.gz"), idx_bytes({2, 2, 3, 3}, px));
  Tensor x = load_idx_images(dir.file("rgb.gz"));
  REQUIRE(x.shape() == Shape{2, 3, 2, 3});
  std::vector<float> v = x.to_vector<float>();
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 2; ++y)
        for (int xx = 0; xx < 3; ++xx)
          CHECK(v[size_t(((n * 3 + c) * 2 + y) * 3 + xx)] ==
                doctest::Approx((50 * n + 10 * y + xx + 60 * c) / 127.5 - 1.0));
  CHECK(same_values(load_idx_images(dir.file("rgb.gz"), 6), pad_images(x, 6)));
}

TEST_CASE("load_idx_images rejects malformed files") {
  TempDir dir;
  const std::string missing = dir.file("missing.gz");
  check_throws_with_all<std::runtime_error>([&] { load_idx_images(missing); }, {missing, "no such file"});

  write_raw(dir.file("magic"), "\x1f\x00\x08\x03" + std::string(12, '\0'));
  check_throws_with_all<std::runtime_error>([&] { load_idx_images(dir.file("magic")); },
                                            {dir.file("magic"), "bad magic"});

  write_gz(dir.file("short.gz"), idx_bytes({3, 2, 4}, ramp(20)));  // 24 bytes promised
  check_throws_with_all<std::runtime_error>([&] { load_idx_images(dir.file("short.gz")); },
                                            {dir.file("short.gz"), "truncated", "holds 20"});

  write_raw(dir.file("short"), idx_bytes({3, 2, 4}, ramp(23)));  // the same, uncompressed
  check_throws_with_all<std::runtime_error>([&] { load_idx_images(dir.file("short")); },
                                            {dir.file("short"), "truncated", "holds 23"});

  write_raw(dir.file("header"), std::string("\0\0\x08\x03\0\0", 6));
  check_throws_with_all<std::runtime_error>([&] { load_idx_images(dir.file("header")); },
                                            {dir.file("header"), "truncated"});

  write_raw(dir.file("tiny"), std::string("\0\0", 2));
  check_throws_with_all<std::runtime_error>([&] { load_idx_images(dir.file("tiny")); }, {dir.file("tiny"), "truncated"});

  write_raw(dir.file("floats"), idx_bytes({1, 1, 1}, {0, 0, 0, 0}, 0x0D));
  check_throws_with_all<std::runtime_error>([&] { load_idx_images(dir.file("floats")); },
                                            {dir.file("floats"), "0x0D", "float32", "unsigned byte"});

  write_raw(dir.file("labels"), idx_bytes({4}, {1, 2, 3, 4}));
  check_throws_with_all<std::runtime_error>([&] { load_idx_images(dir.file("labels")); },
                                            {dir.file("labels"), "has 1 dims", "labels"});

  write_raw(dir.file("extra"), idx_bytes({1, 2, 2}, ramp(5)));
  check_throws_with_all<std::runtime_error>([&] { load_idx_images(dir.file("extra")); },
                                            {dir.file("extra"), "data after"});

  write_raw(dir.file("empty_set"), idx_bytes({0, 28, 28}, {}));
  check_throws_with_all<std::runtime_error>([&] { load_idx_images(dir.file("empty_set")); },
                                            {dir.file("empty_set"), "no images"});

  write_raw(dir.file("two_channels"), idx_bytes({1, 1, 1, 2}, {0, 0}));
  check_throws_with_all<std::runtime_error>([&] { load_idx_images(dir.file("two_channels")); },
                                            {dir.file("two_channels"), "2 channels"});

  // A huge promise in the header costs no huge allocation: the file runs out first.
  write_gz(dir.file("huge.gz"), idx_bytes({60000, 4096, 4096}, ramp(100)));
  check_throws_with_all<std::runtime_error>([&] { load_idx_images(dir.file("huge.gz")); },
                                            {dir.file("huge.gz"), "truncated"});

  // A damaged gzip stream: the header is fine, the compressed bytes are cut.
  const std::string good = idx_bytes({2, 16, 16}, ramp(512));
  write_gz(dir.file("cut.gz"), good);
  std::string gz;
  {
    std::ifstream in(dir.file("cut.gz"), std::ios::binary);
    gz.assign(std::istreambuf_iterator<char>(in), {});
  }
  write_raw(dir.file("cut.gz"), gz.substr(0, gz.size() / 2));
  check_throws_with<std::runtime_error>([&] { load_idx_images(dir.file("cut.gz")); }, dir.file("cut.gz"));

  check_throws_with<std::runtime_error>([&] { load_idx_images(dir.path.string()); }, "not a regular file");

  // Dims whose product passes 2^64 (it wrapped to a small number and the file was read out of
  // bounds): refused by the shape check, before any allocation.
  write_raw(dir.file("wrap"), idx_bytes({1, 2863575501u, 4294571377u, 3}, ramp(1400)));
  check_throws_with_all<std::runtime_error>([&] { load_idx_images(dir.file("wrap")); },
                                            {dir.file("wrap"), "more than 2^48 elements"});
  write_raw(dir.file("wrap3"), idx_bytes({4294967295u, 4294967295u, 4294967295u}, ramp(16)));
  check_throws_with_all<std::runtime_error>([&] { load_idx_images(dir.file("wrap3")); },
                                            {dir.file("wrap3"), "more than 2^48 elements"});
}

TEST_CASE("pad_images centers and fills with the background") {
  // One 2x3 image of 0.5 in an 6x6 canvas: rows 2..3, columns 1..3 (the odd margin goes right).
  Tensor x = full({1, 1, 2, 3}, 0.5);
  Tensor p = pad_images(x, 6);
  REQUIRE(p.shape() == Shape{1, 1, 6, 6});
  std::vector<float> v = p.to_vector<float>();
  for (int y = 0; y < 6; ++y)
    for (int xx = 0; xx < 6; ++xx) {
      bool inside = y >= 2 && y < 4 && xx >= 1 && xx < 4;
      CHECK(v[size_t(y * 6 + xx)] == (inside ? 0.5f : -1.0f));
    }
  // 28 -> 32 puts 2 pixels on every side, as for Fashion-MNIST.
  Tensor f = pad_images(full({2, 1, 28, 28}, 1.0), 32);
  CHECK(f.shape() == Shape{2, 1, 32, 32});
  CHECK(ops::sum(f).item() == doctest::Approx(2 * (28 * 28 - (32 * 32 - 28 * 28))));
  CHECK(same_values(pad_images(x, 3), ops::pad(x, {0, 0, 0, 1}, -1.0)));  // width already fits
  check_throws_with<std::invalid_argument>([&] { pad_images(x, 2); }, "smaller than the images");
  check_throws_with<std::invalid_argument>([&] { pad_images(full({2, 3}, 0.0), 4); }, "[N, C, H, W]");
}

TEST_CASE("load_dataset reads Fashion-MNIST padded to 32") {
  const std::string path = default_fashion_mnist_path();
  if (!fs::exists(path)) {
    MESSAGE("SKIPPED: Fashion-MNIST not installed at ", path, " (Debian package dataset-fashion-mnist)");
    return;
  }
  auto start = std::chrono::steady_clock::now();
  Tensor x = load_dataset("fashion-mnist", 32, 1);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("Fashion-MNIST loaded and padded in ", seconds, " s");
  REQUIRE(x.shape() == Shape{60000, 1, 32, 32});
  CHECK(x.dtype() == DType::Float32);
  CHECK(ops::min(x).item() == -1.0);
  CHECK(ops::max(x).item() == 1.0);
  // The 2-pixel frame is all background.
  CHECK(ops::max(ops::narrow(x, 2, 0, 2)).item() == -1.0);
  CHECK(ops::max(ops::narrow(x, 3, 30, 2)).item() == -1.0);
  check_throws_with_all<std::invalid_argument>([] { load_dataset("fashion-mnist", 32, 3); },
                                               {"1-channel", "3 channels"});
  check_throws_with<std::invalid_argument>([] { load_dataset("fashion-mnist", 16, 1); }, "larger than the image size");
}

TEST_CASE("load_dataset reads IDX files and honours DDPM_FASHION_MNIST_DIR") {
  TempDir dir;
  write_gz(dir.file("train-images-idx3-ubyte.gz"), idx_bytes({5, 4, 4}, ramp(80)));
  Tensor direct = load_dataset(dir.file("train-images-idx3-ubyte.gz"), 8, 1);
  CHECK(direct.shape() == Shape{5, 1, 8, 8});

  const char* old = std::getenv("DDPM_FASHION_MNIST_DIR");
  const std::string saved = old ? old : "";
  ::setenv("DDPM_FASHION_MNIST_DIR", dir.path.c_str(), 1);
  CHECK(default_fashion_mnist_path() == dir.file("train-images-idx3-ubyte.gz"));
  CHECK(same_values(load_dataset("fashion-mnist", 8, 1), direct));
  ::setenv("DDPM_FASHION_MNIST_DIR", dir.file("nowhere").c_str(), 1);
  check_throws_with_all<std::runtime_error>([] { load_dataset("fashion-mnist", 32, 1); },
                                            {"nowhere", "dataset-fashion-mnist", "DDPM_FASHION_MNIST_DIR"});
  if (old) ::setenv("DDPM_FASHION_MNIST_DIR", saved.c_str(), 1);
  else ::unsetenv("DDPM_FASHION_MNIST_DIR");

  check_throws_with<std::runtime_error>([&] { load_dataset(dir.file("no-such-thing"), 32, 1); }, "no-such-thing");
  check_throws_with<std::invalid_argument>([&] { load_dataset(dir.path.string(), 32, 2); }, "channels must be 1 or 3");
}

TEST_CASE("load_image_folder resizes and center crops") {
  TempDir dir;
  const std::array<unsigned char, 3> red{255, 0, 0}, blue{0, 0, 255}, green{0, 255, 0}, white{255, 255, 255};
  // a.png: 16x16 red. b.PNG: 12 wide, 24 high, blue above row 12 and green below. c.jpg: 5x3 grey
  // (scaled up). d.png: 24 wide, 12 high, red left of column 12, white right. notes.txt: ignored.
  auto a = two_color_image(16, 16, red, red, 16, 16);
  auto b = two_color_image(12, 24, blue, green, 12, 12);
  auto d = two_color_image(24, 12, red, white, 12, 12);
  std::vector<unsigned char> c(5 * 3 * 3, 100);
  REQUIRE(stbi_write_png(dir.file("a.png").c_str(), 16, 16, 3, a.data(), 16 * 3));
  REQUIRE(stbi_write_png(dir.file("b.PNG").c_str(), 12, 24, 3, b.data(), 12 * 3));
  REQUIRE(stbi_write_jpg(dir.file("c.jpg").c_str(), 5, 3, 3, c.data(), 100));
  REQUIRE(stbi_write_png(dir.file("d.png").c_str(), 24, 12, 3, d.data(), 24 * 3));
  write_raw(dir.file("notes.txt"), "not an image");

  Tensor x = load_image_folder(dir.path.string(), 8, 3);
  REQUIRE(x.shape() == Shape{4, 3, 8, 8});
  // pixel(n, c, y, x)
  std::vector<float> v = x.to_vector<float>();
  auto px = [&](int n, int ch, int y, int xx) { return v[size_t(((n * 3 + ch) * 8 + y) * 8 + xx)]; };
  for (int y = 0; y < 8; ++y)
    for (int xx = 0; xx < 8; ++xx) {
      CHECK(px(0, 0, y, xx) == 1.0f);   // a: red
      CHECK(px(0, 1, y, xx) == -1.0f);
      CHECK(px(0, 2, y, xx) == -1.0f);
      CHECK(std::fabs(px(2, 0, y, xx) - (100 / 127.5 - 1)) < 0.03);  // c: grey (JPEG: nearly exact)
    }
  // b: resized to 8 x 16, the middle 8 rows kept: the top row is still blue, the bottom row green.
  for (int xx = 0; xx < 8; ++xx) {
    CHECK(px(1, 2, 0, xx) == 1.0f);
    CHECK(px(1, 0, 0, xx) == -1.0f);
    CHECK(px(1, 1, 7, xx) == 1.0f);
    CHECK(px(1, 2, 7, xx) == -1.0f);
  }
  // d: resized to 16 x 8, the middle 8 columns kept: red at the left edge, white at the right.
  for (int y = 0; y < 8; ++y) {
    CHECK(px(3, 0, y, 0) == 1.0f);
    CHECK(px(3, 1, y, 0) == -1.0f);
    CHECK(px(3, 1, y, 7) == 1.0f);
    CHECK(px(3, 2, y, 7) == 1.0f);
  }

  Tensor grey = load_image_folder(dir.path.string(), 5, 1);
  CHECK(grey.shape() == Shape{4, 1, 5, 5});
  CHECK(ops::max(grey).item() <= 1.0);
  CHECK(ops::min(grey).item() >= -1.0);
  CHECK(same_values(load_dataset(dir.path.string(), 5, 1), grey));
}

TEST_CASE("load_image_folder rejects bad folders") {
  TempDir dir;
  check_throws_with_all<std::runtime_error>([&] { load_image_folder(dir.path.string(), 8, 3); },
                                            {dir.path.string(), "no .png"});
  write_raw(dir.file("readme.txt"), "text");
  check_throws_with<std::runtime_error>([&] { load_image_folder(dir.path.string(), 8, 3); }, "no .png");
  check_throws_with<std::runtime_error>([&] { load_image_folder(dir.file("absent"), 8, 3); }, "not a directory");

  std::vector<unsigned char> ok(4 * 4 * 3, 7);
  REQUIRE(stbi_write_png(dir.file("fine.png").c_str(), 4, 4, 3, ok.data(), 12));
  write_raw(dir.file("broken.jpg"), "this is not a jpeg at all");
  check_throws_with_all<std::runtime_error>([&] { load_image_folder(dir.path.string(), 8, 3); },
                                            {dir.file("broken.jpg"), "cannot decode"});
  check_throws_with<std::invalid_argument>([&] { load_image_folder(dir.path.string(), 8, 4); }, "channels must be 1 or 3");
  check_throws_with<std::invalid_argument>([&] { load_image_folder(dir.path.string(), 0, 3); }, "size");
  check_throws_with<std::invalid_argument>([&] { load_image_folder(dir.path.string(), kMaxImageSide + 1, 3); },
                                           "size must be in [1, 16384]");
}

namespace {

// A PNG that is only a signature and an IHDR chunk of w x h 8-bit grey (stb reads the size from it
// without checking the CRC), then `tail` bytes of nothing.
std::string png_header(uint32_t w, uint32_t h, size_t tail = 0) {
  std::string b = "\x89PNG\r\n\x1a\n";
  auto be32 = [&](uint32_t v) {
    for (int k = 3; k >= 0; --k) b += char((v >> (8 * k)) & 0xFF);
  };
  be32(13);
  b += "IHDR";
  be32(w);
  be32(h);
  b += std::string("\x08\x00\x00\x00\x00", 5);  // bit depth 8, grey, deflate, no filter, no interlace
  be32(0);                                          // CRC (unchecked)
  return b + std::string(tail, '\0');
}

// A baseline JPEG's start: SOI, then a SOF0 frame header of w x h, one component.
std::string jpeg_header(uint16_t w, uint16_t h) {
  std::string b = "\xFF\xD8\xFF\xC0";
  b += std::string("\x00\x0B\x08", 3);
  b += char(h >> 8), b += char(h & 0xFF), b += char(w >> 8), b += char(w & 0xFF);
  b += std::string("\x01\x01\x11\x00", 4);
  return b;
}

// Loading `bytes` as the one image of a folder, and as a single file, fails with all of `what`.
void check_image_refused(const std::string& name, const std::string& bytes, const std::vector<std::string>& what) {
  CAPTURE(name);
  TempDir dir;
  write_raw(dir.file(name), bytes);
  std::vector<std::string> all = what;
  all.push_back(dir.file(name));
  check_throws_with_all<std::runtime_error>([&] { load_image_folder(dir.path.string(), 32, 1); }, all);
  check_throws_with_all<std::runtime_error>([&] { load_image_file(dir.file(name), 32, 3); }, all);
}

}  // namespace

TEST_CASE("image files are checked before they are decoded") {
  // "P5\n1": stb decoded it as a 0x0 PNM and the resize divided by zero (a segfault in training).
  check_image_refused("p5.png", "P5\n1", {"neither a PNG nor a JPEG"});
  // Other formats stb knows are refused whatever the name, truncated PNMs (seconds and gigabytes in
  // stb) among them.
  check_image_refused("pnm.png", "P6\n4000 4000\n255\n" + std::string(40, '\x7f'), {"neither a PNG nor a JPEG"});
  check_image_refused("bmp.jpg", "BM" + std::string(60, '\0'), {"neither a PNG nor a JPEG"});
  check_image_refused("empty.png", "", {"neither a PNG nor a JPEG"});
  // Sizes from the header, refused before stb allocates: 1 x 16M pixels in a few bytes allocated 2 GB.
  check_image_refused("tall.png", png_header(1, 16777216, 32 << 10), {"1x16777216", "limit of 16384 pixels a side"});
  check_image_refused("big.png", png_header(9000, 9000, 1 << 20), {"9000x9000", "64 Mpx"});
  check_image_refused("dense.png", png_header(2000, 2000, 8), {"2000x2000", "more pixels than its"});
  check_image_refused("zero.png", png_header(0, 5, 8), {"cannot decode it as an image"});
  check_image_refused("wide.jpg", jpeg_header(20000, 8), {"20000x8", "limit of 16384"});
  check_image_refused("huge.jpg", jpeg_header(16000, 16000), {"16000x16000", "64 Mpx"});
  // A PNG cut short after a valid header: stb's own error, with the file named.
  std::vector<unsigned char> px(8 * 8, 100);
  TempDir dir;
  REQUIRE(stbi_write_png(dir.file("ok.png").c_str(), 8, 8, 1, px.data(), 8));
  std::ifstream in(dir.file("ok.png"), std::ios::binary);
  const std::string ok((std::istreambuf_iterator<char>(in)), {});
  check_image_refused("cut.png", ok.substr(0, ok.size() - 20), {"cannot decode it as an image"});
  // The same file whole decodes.
  CHECK(load_image_file(dir.file("ok.png"), 4, 1).shape() == Shape{1, 1, 4, 4});
}

TEST_CASE("BatchLoader batches are a pure function of seed and index") {
  Tensor images = numbered_images(10);
  BatchLoader a(images, 4, 7, false), b(images, 4, 7, false), c(images, 4, 8, false);
  bool any_differs = false;
  for (int64_t k = 0; k < 6; ++k) {
    CHECK(same_values(a.batch(k), a.batch(k)));
    CHECK(same_values(a.batch(k), b.batch(k)));
    if (!same_values(a.batch(k), c.batch(k))) any_differs = true;
    CHECK(a.batch(k).shape() == Shape{4, 1, 2, 3});
  }
  CHECK(any_differs);
  CHECK(BatchLoader::epoch_permutation(7, 0, 10) != BatchLoader::epoch_permutation(7, 1, 10));
  CHECK(BatchLoader::epoch_permutation(7, 3, 10) == BatchLoader::epoch_permutation(7, 3, 10));
}

TEST_CASE("BatchLoader next returns batch 0 1 2 and so on") {
  Tensor images = numbered_images(10);
  BatchLoader loader(images, 3, 1, true);
  CHECK(loader.num_images() == 10);
  CHECK(loader.batch_size() == 3);
  for (int64_t k = 0; k < 12; ++k) {
    CHECK(loader.next_index() == k);
    Tensor got = loader.next();
    CHECK(same_values(got, loader.batch(k)));
  }
  CHECK(loader.next_index() == 12);
  CHECK(loader.epoch() == doctest::Approx(3.6));
}

TEST_CASE("BatchLoader resumes at start_batch") {
  Tensor images = numbered_images(10);
  BatchLoader fresh(images, 4, 3, true);
  BatchLoader resumed(images, 4, 3, true, Device::cpu(), 5);
  CHECK(resumed.next_index() == 5);
  for (int64_t k = 5; k < 9; ++k) CHECK(same_values(resumed.next(), fresh.batch(k)));
}

TEST_CASE("BatchLoader shows every image once per epoch") {
  const int64_t n = 10, b = 4;
  Tensor images = numbered_images(n);
  BatchLoader loader(images, b, 11, false);
  std::vector<int64_t> stream;  // 10 batches = 40 samples = 4 epochs
  for (int k = 0; k < 10; ++k)
    for (int64_t id : ids_of(loader.next())) stream.push_back(id);
  for (int64_t e = 0; e < 4; ++e) {
    std::vector<int64_t> epoch(stream.begin() + e * n, stream.begin() + (e + 1) * n);
    CHECK(epoch == BatchLoader::epoch_permutation(11, e, n));
    std::set<int64_t> seen(epoch.begin(), epoch.end());
    CHECK(seen.size() == size_t(n));
  }
  // Batch 2 holds positions 8..11: the last two of epoch 0 and the first two of epoch 1.
  std::vector<int64_t> straddling = ids_of(loader.batch(2));
  CHECK(straddling == std::vector<int64_t>(stream.begin() + 8, stream.begin() + 12));
  // The order is shuffled (a 10-element identity permutation by chance has probability 1/10!).
  std::vector<int64_t> identity(n);
  for (int64_t i = 0; i < n; ++i) identity[size_t(i)] = i;
  CHECK(BatchLoader::epoch_permutation(11, 0, n) != identity);
}

TEST_CASE("BatchLoader hflip mirrors about half the images") {
  // 64 images 2x5 with pixel (y, x) = 1000 * i + 10 * y + x: asymmetric left-right, and numbered.
  const int64_t n = 64, h = 2, w = 5;
  std::vector<float> v;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) v.push_back(float(1000 * i + 10 * y + x));
  Tensor images = Tensor::from_vector(v, {n, 1, h, w});
  BatchLoader loader(images, 32, 5, true);
  int flipped = 0, total = 0;
  for (int64_t k = 0; k < 40; ++k) {
    std::vector<float> batch = loader.next().to_vector<float>();
    for (int64_t i = 0; i < 32; ++i) {
      const float* img = &batch[size_t(i * h * w)];
      bool mirrored = img[0] > img[w - 1];
      CHECK(mirrored == BatchLoader::flip_bit(5, k, i));
      int64_t id = int64_t(img[0]) / 1000;
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          int64_t source_x = mirrored ? w - 1 - x : x;
          CHECK(img[y * w + x] == float(1000 * id + 10 * y + source_x));
        }
      flipped += mirrored;
      ++total;
    }
  }
  MESSAGE(flipped, " of ", total, " mirrored");
  CHECK(flipped > total * 45 / 100);
  CHECK(flipped < total * 55 / 100);
  // Without hflip nothing is mirrored.
  BatchLoader plain(images, 32, 5, false);
  std::vector<float> batch = plain.next().to_vector<float>();
  for (int64_t i = 0; i < 32; ++i) CHECK(batch[size_t(i * h * w)] < batch[size_t(i * h * w + w - 1)]);
}

TEST_CASE("BatchLoader allows a batch larger than the data set") {
  Tensor images = numbered_images(3);
  BatchLoader loader(images, 7, 2, false);
  std::vector<int64_t> ids = ids_of(loader.next());  // positions 0..6: epochs 0 and 1 whole, then one more
  REQUIRE(ids.size() == 7);
  std::map<int64_t, int> count;
  for (int64_t id : ids) ++count[id];
  CHECK(count.size() == 3);
  for (const auto& [id, times] : count) CHECK((times == 2 || times == 3));
  std::set<int64_t> first(ids.begin(), ids.begin() + 3), second(ids.begin() + 3, ids.begin() + 6);
  CHECK(first.size() == 3);
  CHECK(second.size() == 3);
}

TEST_CASE("BatchLoader rejects bad arguments and cleans up") {
  Tensor images = numbered_images(4);
  check_throws_with<std::invalid_argument>([&] { BatchLoader(images, 0, 0, false); }, "batch_size");
  check_throws_with<std::invalid_argument>([&] { BatchLoader(full({4, 6}, 0.0), 2, 0, false); }, "[N, C, H, W]");
  check_throws_with<std::invalid_argument>([&] { BatchLoader(Tensor(), 2, 0, false); }, "undefined");
  check_throws_with<std::invalid_argument>([&] { BatchLoader(empty({0, 1, 2, 2}), 2, 0, false); }, "empty");
  check_throws_with<std::invalid_argument>([&] { BatchLoader(images, 2, 0, false, Device::cpu(), -1); }, "start_batch");
  // Destroyed while a prefetch is running, or right after next(): no hang, no leak.
  Tensor big = zeros({2000, 1, 32, 32});
  for (int i = 0; i < 20; ++i) {
    BatchLoader loader(big, 256, uint64_t(i), true);
    if (i % 2) loader.next();
  }
  // float64 and non-contiguous inputs are converted.
  Tensor f64 = ops::transpose(numbered_images(4).to(DType::Float64), 2, 3);
  BatchLoader converted(f64, 2, 0, false);
  CHECK(converted.next().dtype() == DType::Float32);
}

}  // TEST_SUITE("cpu")

TEST_SUITE("cuda") {

TEST_CASE("BatchLoader serves batches on the GPU") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  Tensor images = numbered_images(10);
  BatchLoader loader(images, 4, 9, true, Device::cuda());
  for (int64_t k = 0; k < 5; ++k) {
    Tensor got = loader.next();
    CHECK(got.device() == Device::cuda());
    CHECK(same_values(got.cpu(), loader.batch(k)));
  }
}

}  // TEST_SUITE("cuda")
