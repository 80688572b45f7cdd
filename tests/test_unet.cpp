// The U-Net (diffusion/unet.hpp) against docs/unet.md and PyTorch: parameter counts and names of the
// presets, the paper's init, configuration errors, and outputs and gradients of a small network with
// every block type against tests/data/reference.safetensors (made by tests/data/make_reference.py
// with bench/unet_torch.py, the spec's network in plain PyTorch).
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "diffusion/unet.hpp"
#include "nn/safetensors.hpp"
#include "reference_data.hpp"
#include "test_util.hpp"

using namespace ddpm;

namespace {

using test::reference;

// The configuration of the reference cases (make_reference.py's UNET_CONFIG): at 16x16, a ResBlock
// with an identity skip, a Downsample, a ResBlock with a 1x1 skip and attention at 8, the mid
// blocks, up ResBlocks on concatenated skips with attention, an Upsample and the output head.
UNetConfig reference_config(const std::string& upsample = "nearest") {
  UNetConfig c;
  c.in_channels = 1, c.ch = 8, c.ch_mult = {1, 2}, c.num_res_blocks = 1, c.attn_resolutions = {8};
  c.groups = 4, c.dropout = 0.0, c.resolution = 16, c.upsample = upsample;
  return c;
}

// The tensors of the reference file whose names start with `prefix`, with the prefix removed.
std::map<std::string, Tensor> with_prefix(const std::string& prefix) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : reference().tensors)
    if (name.compare(0, prefix.size(), prefix) == 0) out[name.substr(prefix.size())] = t;
  return out;
}

// The reference parameters of `case_name` ("unet", or "unet_transposed", which replaces the
// upsampler's) for a model of dtype `dtype`.
std::map<std::string, Tensor> reference_params(const std::string& case_name) {
  std::map<std::string, Tensor> params = with_prefix("unet.param.");
  if (case_name != "unet")
    for (const auto& [name, t] : with_prefix(case_name + ".param.")) params[name] = t;
  return params;
}

std::map<std::string, Tensor> state_map(const Module& m) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : m.state_dict()) out[name] = t;
  return out;
}

// Runs the reference case in `dtype`, compares the output and the gradients of sum(out * cotangent)
// (w.r.t. x and every parameter the file has a gradient for) within atol = rtol = tol.
void check_unet_case(const std::string& case_name, DType dtype, double tol, bool with_grads = true) {
  INFO("reference case ", case_name, " in ", std::string(dtype_name(dtype)));
  const SafetensorsFile& ref = reference();
  Generator gen(7);  // outlives the model: its Dropout layers keep the pointer
  UNet model(reference_config(case_name == "unet" ? "nearest" : "transposed"), &gen);
  model.to(dtype);
  model.load_state_dict(reference_params(case_name));

  // A fresh leaf: to() returns the file's own tensor when the dtype is already right.
  Tensor x = set_requires_grad(ref.at("unet.x").to(dtype).clone());
  Tensor out = model.forward(x, ref.at("unet.t"));
  REQUIRE(out.dtype() == dtype);
  {
    INFO("output");
    test::check_close(out, ref.at(case_name + ".out"), tol, tol);
  }
  if (!with_grads) return;
  backward(out, ref.at("unet.cotangent").to(dtype));
  {
    INFO("gradient of x");
    REQUIRE(grad(x).defined());
    test::check_close(grad(x), ref.at(case_name + ".grad.x"), tol, tol);
  }
  std::map<std::string, Tensor> params;
  for (const auto& [name, p] : model.named_parameters()) params[name] = p;
  int checked = 0;
  for (const auto& [name, expected] : with_prefix(case_name + ".grad.")) {
    if (name == "x") continue;
    INFO("gradient of ", name);
    REQUIRE(params.count(name) == 1);
    REQUIRE(grad(params[name]).defined());
    test::check_close(grad(params[name]), expected, tol, tol);
    ++checked;
  }
  CHECK(checked >= 4);
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("unet presets have the spec parameter counts") {
  CHECK(UNet(unet_preset("tiny")).num_parameters() == 267313);
  CHECK(UNet(unet_preset("small")).num_parameters() == 1623169);
  CHECK(UNet(unet_preset("cifar10")).num_parameters() == 35746307);
  // The bound a checkpoint's weights are checked against before its network is built: below the
  // real count, and of the same order.
  for (const std::string& name : unet_preset_names()) {
    CAPTURE(name);
    const double real = double(UNet(unet_preset(name)).num_parameters());
    CHECK(unet_preset(name).min_parameters() <= real);
    CHECK(unet_preset(name).min_parameters() >= real / 2);
  }
  CHECK(unet_preset_names() == std::vector<std::string>{"tiny", "small", "cifar10"});
  UNetConfig cifar = unet_preset("cifar10");
  CHECK(cifar.in_channels == 3);
  CHECK(cifar.ch == 128);
  CHECK(cifar.ch_mult == std::vector<int64_t>{1, 2, 2, 2});
  CHECK(cifar.attn_resolutions == std::vector<int64_t>{16});
  CHECK(cifar.dropout == doctest::Approx(0.1));
  CHECK(cifar.resolution == 32);
}

TEST_CASE("unet tiny state_dict names and shapes follow the spec") {
  UNet model(unet_preset("tiny"));
  std::map<std::string, Tensor> sd = state_map(model);
  auto shape_of = [&](const std::string& name) {
    INFO("parameter ", name);
    REQUIRE(sd.count(name) == 1);
    return sd.at(name).shape();
  };
  // ch 16, temb 64; levels at 32 (16 ch), 16 (32 ch), 8 (32 ch); down: res, down, res, down, res.
  CHECK(shape_of("temb1.weight") == Shape{64, 16});
  CHECK(shape_of("temb1.bias") == Shape{64});
  CHECK(shape_of("temb2.weight") == Shape{64, 64});
  CHECK(shape_of("conv_in.weight") == Shape{16, 1, 3, 3});
  CHECK(shape_of("down.0.res.norm1.weight") == Shape{16});
  CHECK(shape_of("down.0.res.conv1.weight") == Shape{16, 16, 3, 3});
  CHECK(shape_of("down.0.res.temb.weight") == Shape{16, 64});
  CHECK(shape_of("down.0.res.conv2.weight") == Shape{16, 16, 3, 3});
  CHECK(sd.count("down.0.res.skip.weight") == 0);  // cin == cout: the identity
  CHECK(shape_of("down.1.downsample.weight") == Shape{16, 16, 3, 3});
  CHECK(shape_of("down.2.res.skip.weight") == Shape{32, 16, 1, 1});
  CHECK(shape_of("down.3.downsample.bias") == Shape{32});
  CHECK(sd.count("down.4.res.skip.weight") == 0);
  CHECK(sd.count("down.5.res.conv1.weight") == 0);
  CHECK(shape_of("mid1.conv1.weight") == Shape{32, 32, 3, 3});
  CHECK(shape_of("mid_attn.norm.weight") == Shape{32});
  CHECK(shape_of("mid_attn.qkv.weight") == Shape{96, 32, 1, 1});
  CHECK(shape_of("mid_attn.proj.weight") == Shape{32, 32, 1, 1});
  CHECK(shape_of("mid2.conv2.weight") == Shape{32, 32, 3, 3});
  // up: level 2 (res, res, upsample), level 1 (res, res, upsample), level 0 (res, res); the skip
  // stack from the top: 32 (down.4), 32 (down.3), 32 (down.2), 16 (down.1), 16 (down.0), 16 (conv_in).
  CHECK(shape_of("up.0.res.norm1.weight") == Shape{64});
  CHECK(shape_of("up.0.res.conv1.weight") == Shape{32, 64, 3, 3});
  CHECK(shape_of("up.0.res.skip.weight") == Shape{32, 64, 1, 1});
  CHECK(shape_of("up.2.upsample.weight") == Shape{32, 32, 3, 3});
  CHECK(shape_of("up.4.res.conv1.weight") == Shape{32, 48, 3, 3});
  CHECK(shape_of("up.5.upsample.weight") == Shape{32, 32, 3, 3});
  CHECK(shape_of("up.6.res.conv1.weight") == Shape{16, 48, 3, 3});
  CHECK(shape_of("up.7.res.skip.weight") == Shape{16, 32, 1, 1});
  CHECK(sd.count("up.8.res.conv1.weight") == 0);
  CHECK(shape_of("norm_out.weight") == Shape{16});
  CHECK(shape_of("conv_out.weight") == Shape{1, 16, 3, 3});
  CHECK(shape_of("conv_out.bias") == Shape{1});
  for (const auto& [name, t] : sd) {
    INFO(name);
    CHECK(name.find(".attn.") == std::string::npos);  // tiny has attention only in the middle
    CHECK(name.find("dropout") == std::string::npos);
  }

  // With upsample = transposed, a ConvTranspose2d(k=4) weight in PyTorch's [in, out, kh, kw].
  UNetConfig c = unet_preset("tiny");
  c.upsample = "transposed";
  std::map<std::string, Tensor> sd_t = state_map(UNet(c));
  REQUIRE(sd_t.count("up.2.upsample.weight") == 1);
  CHECK(sd_t.at("up.2.upsample.weight").shape() == Shape{32, 32, 4, 4});
  CHECK(sd_t.at("up.5.upsample.bias").shape() == Shape{32});
}

TEST_CASE("unet reference config has exactly the pytorch module names and shapes") {
  // make_reference.py stored every parameter of the PyTorch module: the sets must be equal.
  for (const std::string up : {"nearest", "transposed"}) {
    INFO("upsample ", up);
    std::map<std::string, Tensor> ours = state_map(UNet(reference_config(up)));
    std::map<std::string, Tensor> theirs = reference_params(up == "nearest" ? "unet" : "unet_transposed");
    CHECK(ours.size() == theirs.size());
    for (const auto& [name, t] : theirs) {
      INFO("parameter ", name);
      REQUIRE(ours.count(name) == 1);
      CHECK(ours.at(name).shape() == t.shape());
    }
  }
}

TEST_CASE("unet fresh init zeroes each residual branch end and the output") {
  Generator gen(3);
  UNet model(unet_preset("tiny"), &gen);
  for (const auto& [name, p] : model.named_parameters()) {
    INFO("parameter ", name);
    std::vector<double> v = p.to_vector<double>();
    double max_abs = 0.0, sum_sq = 0.0;
    for (double e : v) max_abs = std::max(max_abs, std::fabs(e)), sum_sq += e * e;
    const bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    const bool zeroed = name.find("conv2.weight") != std::string::npos || name.find("proj.weight") != std::string::npos ||
                        name == "conv_out.weight";
    if (is_bias || zeroed) {
      CHECK(max_abs == 0.0);
    } else if (p.dim() == 1) {  // GroupNorm weight
      CHECK(p.to_vector<double>() == std::vector<double>(v.size(), 1.0));
    } else {  // fan-average uniform: |w| <= limit = sqrt(3 / fan_avg), variance limit^2 / 3
      const int64_t receptive = p.dim() == 4 ? p.size(2) * p.size(3) : 1;
      const double fan_avg = double(p.size(0) + p.size(1)) * double(receptive) / 2.0;
      const double limit = std::sqrt(3.0 / fan_avg);
      CHECK(max_abs <= limit);
      CHECK(max_abs > 0.5 * limit);
      if (v.size() >= 1000) CHECK(std::sqrt(sum_sq / double(v.size())) == doctest::Approx(limit / std::sqrt(3.0)).epsilon(0.1));
    }
  }
  // conv_out's weight and bias are zero: the untrained network predicts exactly 0.
  Tensor x = randn({2, 1, 32, 32}, {}, &gen);
  Tensor out = model.forward(x, tensor({0, 999}, DType::Int64));
  CHECK(out.shape() == Shape{2, 1, 32, 32});
  test::check_values(out, std::vector<double>(size_t(out.numel()), 0.0), 0.0);
}

TEST_CASE("unet init is reproducible from the generator") {
  Generator g1(11), g2(11), g3(12);
  UNet a(unet_preset("tiny"), &g1), b(unet_preset("tiny"), &g2), c(unet_preset("tiny"), &g3);
  std::map<std::string, Tensor> sa = state_map(a), sb = state_map(b), sc = state_map(c);
  CHECK(sa.at("down.0.res.conv1.weight").to_vector<float>() == sb.at("down.0.res.conv1.weight").to_vector<float>());
  CHECK(sa.at("down.0.res.conv1.weight").to_vector<float>() != sc.at("down.0.res.conv1.weight").to_vector<float>());
}

TEST_CASE("timestep_embedding matches pytorch") {
  const SafetensorsFile& ref = reference();
  const Tensor& t = ref.at("timestep_embedding.t");  // int64 [0, 1, 3, 17, 250, 517, 999]
  for (int64_t dim : {16, 128}) {
    INFO("dim ", dim);
    const Tensor& expected = ref.at("timestep_embedding.dim" + std::to_string(dim));
    Tensor e64 = timestep_embedding(t, dim, DType::Float64);
    REQUIRE(e64.dtype() == DType::Float64);
    REQUIRE(e64.shape() == Shape{t.size(0), dim});
    test::check_close(e64, expected, 1e-12, 1e-12);
    // float32 rounds t * freq: for t up to 999 the argument is off by up to ~1e-4.
    Tensor e32 = timestep_embedding(t.to(DType::Int32), dim);
    REQUIRE(e32.dtype() == DType::Float32);
    test::check_close(e32, expected, 2e-4, 0.0);
    // The form with the frequencies made once (as the UNet keeps them) gives the same bits.
    for (DType dtype : {DType::Float64, DType::Float32}) {
      Tensor freq = timestep_frequencies(dim, dtype, Device::cpu());
      REQUIRE(freq.shape() == Shape{1, dim / 2});
      REQUIRE(freq.dtype() == dtype);
      test::check_close(timestep_embedding(t, freq), dtype == DType::Float64 ? e64 : e32, 0.0, 0.0);
    }
  }
  // t = 0: sin(0) = 0 in the first half, cos(0) = 1 in the second, in any dtype.
  std::vector<double> zero_row(8, 0.0);
  for (int i = 4; i < 8; ++i) zero_row[i] = 1.0;
  test::check_values(timestep_embedding(tensor({0}, DType::Int64), 8), zero_row, 0.0);
}

TEST_CASE("unet matches pytorch reference in float64") {
  check_unet_case("unet", DType::Float64, 1e-10);
}

TEST_CASE("unet with transposed upsampling matches pytorch reference in float64") {
  check_unet_case("unet_transposed", DType::Float64, 1e-10);
}

TEST_CASE("unet matches pytorch reference in float32") {
  // The parameters are exact in float32; the rest is float32 rounding (PyTorch's float32 run is
  // within ~1.4e-6 of float64) and the float32 time embedding (arguments up to 517 off by ~3e-5):
  // ours is within ~2e-5 of the reference.
  check_unet_case("unet", DType::Float32, 1e-4);
}

TEST_CASE("unet dropout acts in train mode only") {
  const SafetensorsFile& ref = reference();
  UNetConfig c = reference_config();
  c.dropout = 0.3;
  Generator gen(5);
  UNet model(c, &gen);
  model.to(DType::Float64);
  model.load_state_dict(reference_params("unet"));
  model.eval();  // dropout is the identity: the reference output (made with dropout 0)
  NoGradGuard no_grad;
  test::check_close(model.forward(ref.at("unet.x"), ref.at("unet.t")), ref.at("unet.out"), 1e-10, 1e-10);
  model.train();
  Tensor a = model.forward(ref.at("unet.x"), ref.at("unet.t"));
  Tensor b = model.forward(ref.at("unet.x"), ref.at("unet.t"));
  CHECK(a.to_vector<double>() != b.to_vector<double>());
  CHECK(a.to_vector<double>() != ref.at("unet.out").to_vector<double>());
}

TEST_CASE("unet config metadata round trip") {
  UNetConfig c = unet_preset("small");
  c.upsample = "transposed";
  std::map<std::string, std::string> meta = c.to_metadata();
  CHECK(meta.at("unet.ch_mult") == "1,2,2");
  UNetConfig back = UNetConfig::from_metadata(meta);
  CHECK(back.in_channels == c.in_channels);
  CHECK(back.ch == c.ch);
  CHECK(back.ch_mult == c.ch_mult);
  CHECK(back.num_res_blocks == c.num_res_blocks);
  CHECK(back.attn_resolutions == c.attn_resolutions);
  CHECK(back.groups == c.groups);
  CHECK(back.dropout == c.dropout);
  CHECK(back.resolution == c.resolution);
  CHECK(back.upsample == c.upsample);
  // tiny has no attention: an empty list survives too.
  CHECK(UNetConfig::from_metadata(unet_preset("tiny").to_metadata()).attn_resolutions.empty());

  meta.erase("unet.groups");
  test::check_throws_with<std::invalid_argument>([&] { UNetConfig::from_metadata(meta); }, "unet.groups");
  meta = c.to_metadata();
  meta["unet.ch_mult"] = "1,two";
  test::check_throws_with<std::invalid_argument>([&] { UNetConfig::from_metadata(meta); }, "unet.ch_mult");
}

TEST_CASE("unet bad configs throw naming the problem") {
  test::check_throws_with_all<std::invalid_argument>([] { unet_preset("huge"); }, {"huge", "tiny", "small", "cifar10"});
  auto bad = [](auto&& edit, const std::string& needle) {
    UNetConfig c = unet_preset("tiny");
    edit(c);
    INFO("expecting a complaint about ", needle);
    test::check_throws_with<std::invalid_argument>([&] { c.validate(); }, needle);
    test::check_throws_with<std::invalid_argument>([&] { UNet model(c); }, needle);
  };
  bad([](UNetConfig& c) { c.resolution = 30; }, "resolution");  // 3 levels: divisible by 4
  bad([](UNetConfig& c) { c.resolution = 0; }, "resolution");
  bad([](UNetConfig& c) { c.ch = 15; }, "ch");
  bad([](UNetConfig& c) { c.ch_mult = {}; }, "ch_mult");
  bad([](UNetConfig& c) { c.ch_mult = {1, 0}; }, "ch_mult");
  bad([](UNetConfig& c) { c.num_res_blocks = 0; }, "num_res_blocks");
  bad([](UNetConfig& c) { c.in_channels = 0; }, "in_channels");
  bad([](UNetConfig& c) { c.groups = 0; }, "groups");
  bad([](UNetConfig& c) { c.groups = 6; }, "groups");  // 16 channels in 6 groups
  bad([](UNetConfig& c) { c.dropout = 1.0; }, "dropout");
  bad([](UNetConfig& c) { c.upsample = "bilinear"; }, "upsample");
  bad([](UNetConfig& c) { c.attn_resolutions = {12}; }, "a resolution the network never has (32, 16, 8)");
  // Sizes from a damaged file: refused before any product of them can overflow or a layer is built.
  bad([](UNetConfig& c) { c.ch = int64_t(1) << 40; }, "ch is 1099511627776, above the limit of 65536");
  bad([](UNetConfig& c) { c.ch_mult = {1, int64_t(1) << 50}; }, "above the limit of 1024");
  bad([](UNetConfig& c) { c.num_res_blocks = 1000000000; }, "num_res_blocks is 1000000000, above the limit");
  bad([](UNetConfig& c) { c.ch_mult = std::vector<int64_t>(70, 1); }, "70 levels, at most 16");  // 1 << 69 was UB
  bad([](UNetConfig& c) { c.num_classes = int64_t(1) << 40; }, "num_classes");
  // The level widths 8 and 24 split into min(32, width) groups, but the up path's concatenation
  // 24 + 24 = 48 does not split into 32: validate() follows the up path too, before any layer is built.
  UNetConfig c;
  c.ch = 8, c.ch_mult = {1, 3}, c.groups = 32, c.resolution = 8, c.attn_resolutions = {};
  test::check_throws_with<std::invalid_argument>([&] { c.validate(); }, "48 channels do not split into 32 groups");
  test::check_throws_with<std::invalid_argument>([&] { UNet model(c); }, "UNetConfig: ");
}

TEST_CASE("unet wrong input shape throws") {
  UNet model(unet_preset("tiny"));
  NoGradGuard no_grad;
  Tensor t2 = tensor({1, 2}, DType::Int64);
  auto throws = [&](const Tensor& x, const Tensor& t, const std::string& needle) {
    test::check_throws_with([&] { model.forward(x, t); }, needle);
  };
  throws(zeros({2, 3, 32, 32}), t2, "[B, 1, 32, 32]");  // wrong channels
  throws(zeros({2, 1, 16, 16}), t2, "[B, 1, 32, 32]");  // wrong resolution
  throws(zeros({1, 32, 32}), t2, "[B, 1, 32, 32]");     // no batch dim
  throws(zeros({2, 1, 32, 32}), tensor({1, 2, 3}, DType::Int64), "t has shape");
  throws(zeros({2, 1, 32, 32}), zeros({2, 1}, DType::Int64), "t has shape");
  test::check_throws_with([] { timestep_embedding(tensor({1, 2}, DType::Int64), 7); }, "dim");
  test::check_throws_with([] { timestep_embedding(zeros({2, 1}, DType::Int64), 8); }, "[B]");
  test::check_throws_with([] { timestep_frequencies(7, DType::Float32, Device::cpu()); }, "dim is 7");
  const Tensor freq = timestep_frequencies(8, DType::Float32, Device::cpu());
  test::check_throws_with([&] { timestep_embedding(zeros({2, 1}, DType::Int64), freq); }, "[B]");
  test::check_throws_with([&] { timestep_embedding(t2, ops::reshape(freq, {4})); }, "[1, dim / 2]");
}

}  // TEST_SUITE
