// The DDPM U-Net (docs/unet.md): its configuration and presets, the time embedding, the ResBlock,
// and the down / mid / up assembly with the skip stack.
#include "diffusion/unet.hpp"

#include <cmath>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "nn/init.hpp"

namespace ddpm {

// ---- configuration -----------------------------------------------------------------------------

namespace {

int64_t groups_for(const UNetConfig& c, int64_t channels) { return std::min(c.groups, channels); }

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

std::vector<int64_t> split_ints(const std::string& key, const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      out.push_back(std::stoll(item, &used));
      if (used != item.size()) throw std::invalid_argument("trailing characters");
    } catch (const std::exception&) {
      throw std::invalid_argument("UNetConfig: metadata " + key + " = '" + s + "' is not a list of integers");
    }
  }
  return out;
}

}  // namespace

void UNetConfig::validate() const {
  auto fail = [](const std::string& what) { throw std::invalid_argument("UNetConfig: " + what); };
  // Sizes far beyond any real model are refused first (they come from files, too): every product of
  // them below stays far inside int64.
  const std::pair<const char*, int64_t> limits[] = {
      {"in_channels", 1024}, {"out_channels", 1024},     {"ch", 65536},          {"num_res_blocks", 1024},
      {"groups", 65536},     {"resolution", 65536},      {"num_classes", 1 << 24}};
  const int64_t values[] = {in_channels, out_channels, ch, num_res_blocks, groups, resolution, num_classes};
  for (size_t i = 0; i < std::size(values); ++i)
    if (values[i] > limits[i].second)
      fail(std::string(limits[i].first) + " is " + std::to_string(values[i]) + ", above the limit of " +
           std::to_string(limits[i].second));
  for (int64_t m : ch_mult)
    if (m > 1024) fail("ch_mult has " + std::to_string(m) + ", above the limit of 1024");
  if (in_channels < 1) fail("in_channels is " + std::to_string(in_channels) + ", expected >= 1");
  if (out_channels < 0) fail("out_channels is " + std::to_string(out_channels) + ", expected >= 1 (0: in_channels)");
  if (ch < 1 || ch % 2 != 0 || ch < 4) fail("ch is " + std::to_string(ch) + ", expected an even number >= 4");
  if (ch_mult.empty()) fail("ch_mult is empty, expected at least one level");
  if (ch_mult.size() > 16) fail("ch_mult has " + std::to_string(ch_mult.size()) + " levels, at most 16 are supported");
  for (int64_t m : ch_mult)
    if (m < 1) fail("ch_mult has " + std::to_string(m) + ", expected every multiplier >= 1");
  if (num_res_blocks < 1) fail("num_res_blocks is " + std::to_string(num_res_blocks) + ", expected >= 1");
  if (groups < 1) fail("groups is " + std::to_string(groups) + ", expected >= 1");
  if (!(dropout >= 0.0 && dropout < 1.0)) fail("dropout is " + std::to_string(dropout) + ", expected in [0, 1)");
  const int64_t halvings = int64_t(ch_mult.size()) - 1;
  if (resolution < 1 || resolution % (int64_t(1) << halvings) != 0)
    fail("resolution (--resolution) " + std::to_string(resolution) + " is not divisible by 2^" +
         std::to_string(halvings) + " (one halving per level of ch_mult, --ch-mult, after the first)");
  if (num_classes < 0) fail("num_classes is " + std::to_string(num_classes) + ", expected >= 0 (0: unconditional)");
  if (upsample != "nearest" && upsample != "transposed")
    fail("upsample is '" + upsample + "', expected nearest or transposed");
  // Every GroupNorm's width: the levels' channels, and the up path's concatenations cur + skip.
  std::vector<int64_t> widths = {ch}, skips = {ch};
  for (size_t i = 0; i < ch_mult.size(); ++i) {
    for (int64_t r = 0; r < num_res_blocks; ++r) skips.push_back(ch * ch_mult[i]);
    if (i + 1 < ch_mult.size()) skips.push_back(ch * ch_mult[i]);  // the downsample's output
  }
  int64_t cur = ch * ch_mult.back();
  widths.push_back(cur);
  for (size_t i = ch_mult.size(); i-- > 0;)
    for (int64_t r = 0; r <= num_res_blocks && !skips.empty(); ++r) {
      widths.push_back(cur + skips.back());
      skips.pop_back();
      cur = ch * ch_mult[i];
      widths.push_back(cur);
    }
  for (int64_t w : widths)
    if (w % std::min(groups, w) != 0)
      fail(std::to_string(w) + " channels do not split into " + std::to_string(std::min(groups, w)) +
           " groups (groups, --groups, must divide the channels of every layer, or exceed them)");
  // Attention only where the network has that resolution: resolution / 2^i at level i.
  std::string have;
  for (int64_t i = 0; i <= halvings; ++i) have += (i ? ", " : "") + std::to_string(resolution >> i);
  for (int64_t r : attn_resolutions) {
    bool found = false;
    for (int64_t i = 0; i <= halvings; ++i) found = found || r == (resolution >> i);
    if (!found)
      fail("attn_resolutions (--attn-res) has " + std::to_string(r) + ", a resolution the network never has (" +
           have + ")");
  }
}

double UNetConfig::min_parameters() const {
  const double temb = 4.0 * double(ch);
  double n = temb * temb + double(num_classes > 0 ? num_classes + 1 : 0) * temb;  // temb2, class_emb
  for (int64_t m : ch_mult) {
    // A 3x3 conv of w -> w channels at each level: down num_res_blocks conv2s, up num_res_blocks + 1
    // ResBlocks whose conv1 (w + skip -> w) and conv2 are at least that.
    const double w = double(ch) * double(m);
    n += 9.0 * w * w * (3.0 * double(num_res_blocks) + 2.0);
  }
  const double top = double(ch) * double(ch_mult.back());
  return n + 4.0 * 9.0 * top * top;  // the middle's two ResBlocks
}

std::map<std::string, std::string> UNetConfig::to_metadata() const {
  std::ostringstream drop;
  drop.precision(17);
  drop << dropout;
  std::map<std::string, std::string> m = {{"unet.in_channels", std::to_string(in_channels)},
          {"unet.out_channels", std::to_string(output_channels())},
          {"unet.ch", std::to_string(ch)},
          {"unet.ch_mult", join(ch_mult)},
          {"unet.num_res_blocks", std::to_string(num_res_blocks)},
          {"unet.attn_resolutions", join(attn_resolutions)},
          {"unet.groups", std::to_string(groups)},
          {"unet.dropout", drop.str()},
          {"unet.resolution", std::to_string(resolution)},
          {"unet.upsample", upsample}};
  if (num_classes > 0) m["unet.num_classes"] = std::to_string(num_classes);
  return m;
}

UNetConfig UNetConfig::from_metadata(const std::map<std::string, std::string>& m) {
  auto get = [&](const std::string& key) {
    auto it = m.find(key);
    if (it == m.end()) throw std::invalid_argument("UNetConfig: the checkpoint metadata has no " + key);
    return it->second;
  };
  auto get_int = [&](const std::string& key) {
    std::vector<int64_t> v = split_ints(key, get(key));
    if (v.size() != 1) throw std::invalid_argument("UNetConfig: metadata " + key + " is not one integer");
    return v[0];
  };
  UNetConfig c;
  c.in_channels = get_int("unet.in_channels");
  c.out_channels = m.count("unet.out_channels") ? get_int("unet.out_channels") : c.in_channels;
  c.ch = get_int("unet.ch");
  c.ch_mult = split_ints("unet.ch_mult", get("unet.ch_mult"));
  c.num_res_blocks = get_int("unet.num_res_blocks");
  c.attn_resolutions = split_ints("unet.attn_resolutions", get("unet.attn_resolutions"));
  c.groups = get_int("unet.groups");
  try {
    c.dropout = std::stod(get("unet.dropout"));
  } catch (const std::logic_error&) {
    throw std::invalid_argument("UNetConfig: metadata unet.dropout = '" + get("unet.dropout") + "' is not a number");
  }
  c.resolution = get_int("unet.resolution");
  c.upsample = get("unet.upsample");
  c.num_classes = m.count("unet.num_classes") ? get_int("unet.num_classes") : 0;
  c.validate();
  return c;
}

std::vector<std::string> unet_preset_names() { return {"tiny", "small", "cifar10"}; }

UNetConfig unet_preset(const std::string& name) {
  UNetConfig c;
  if (name == "tiny") {  // the CPU demo: 267,313 parameters
    c.in_channels = 1, c.ch = 16, c.ch_mult = {1, 2, 2}, c.num_res_blocks = 1, c.attn_resolutions = {};
    c.groups = 8, c.dropout = 0.0;
  } else if (name == "small") {  // 1,623,169 parameters
    c.in_channels = 1, c.ch = 32, c.ch_mult = {1, 2, 2}, c.num_res_blocks = 2, c.attn_resolutions = {16};
    c.groups = 32, c.dropout = 0.1;
  } else if (name == "cifar10") {  // the paper's CIFAR-10 model: 35,746,307 parameters
    c.in_channels = 3, c.ch = 128, c.ch_mult = {1, 2, 2, 2}, c.num_res_blocks = 2, c.attn_resolutions = {16};
    c.groups = 32, c.dropout = 0.1;
  } else {
    std::string known;
    for (const std::string& n : unet_preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown U-Net preset '" + name + "', expected one of: " + known);
  }
  c.resolution = 32;
  return c;
}

// ---- blocks ------------------------------------------------------------------------------------

Tensor timestep_frequencies(int64_t dim, DType dtype, Device device) {
  DDPM_CHECK(dim >= 4 && dim % 2 == 0, "timestep_embedding: dim is ", dim, ", expected an even number >= 4");
  const int64_t half = dim / 2;
  std::vector<double> freq(half);
  for (int64_t i = 0; i < half; ++i) freq[i] = std::exp(-std::log(10000.0) * double(i) / double(half - 1));
  return Tensor::from_vector(freq, {1, half}).to(dtype).to(device);  // [1, half]
}

Tensor timestep_embedding(const Tensor& t, const Tensor& freq) {
  DDPM_CHECK(t.dim() == 1, "timestep_embedding: t has shape ", shape_str(t.shape()), ", expected [B]");
  DDPM_CHECK(freq.dim() == 2 && freq.size(0) == 1, "timestep_embedding: freq has shape ", shape_str(freq.shape()),
             ", expected [1, dim / 2]");
  // [B, 1] * [1, half] -> [B, half]
  Tensor args = ops::mul(ops::unsqueeze(t.to(freq.dtype()), 1), freq);
  return ops::cat({ops::sin(args), ops::cos(args)}, 1);
}

Tensor timestep_embedding(const Tensor& t, int64_t dim, DType dtype) {
  DDPM_CHECK(t.dim() == 1, "timestep_embedding: t has shape ", shape_str(t.shape()), ", expected [B]");
  return timestep_embedding(t, timestep_frequencies(dim, dtype, t.device()));
}

ResBlock::ResBlock(int64_t cin, int64_t cout, int64_t temb_channels, int64_t groups, double dropout,
                   Generator* gen) {
  norm1 = register_module("norm1", std::make_shared<GroupNorm>(std::min(groups, cin), cin));
  conv1 = register_module("conv1", std::make_shared<Conv2d>(cin, cout, 3, 1, 1, true, gen));
  temb = register_module("temb", std::make_shared<Linear>(temb_channels, cout, true, gen));
  norm2 = register_module("norm2", std::make_shared<GroupNorm>(std::min(groups, cout), cout));
  drop = register_module("dropout", std::make_shared<Dropout>(dropout, gen));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(cout, cout, 3, 1, 1, true, gen));
  if (cin != cout) skip = register_module("skip", std::make_shared<Conv2d>(cin, cout, 1, 1, 0, true, gen));
}

Tensor ResBlock::forward(const Tensor& x, const Tensor& temb_in) {
  Tensor h = conv1->forward_silu(norm1->forward(x));  // conv1(silu(norm1(x)))
  // temb: [B, 4ch] -> [B, cout, 1, 1], broadcast over H, W
  Tensor t = temb->forward(silu(temb_in));
  h = h + reshape(t, {t.size(0), t.size(1), 1, 1});
  if (drop->p == 0.0 || !drop->is_training()) h = conv2->forward_silu(norm2->forward(h));  // dropout is the identity
  else h = conv2->forward(drop->forward(silu(norm2->forward(h))));
  return (skip ? skip->forward(x) : x) + h;
}

Tensor UNetEntry::forward(const Tensor& h, const Tensor& temb) {
  if (downsample) return downsample->forward(h);
  if (upsample) {
    if (auto transposed = std::dynamic_pointer_cast<ConvTranspose2d>(upsample)) return transposed->forward(h);
    return upsample->forward(upsample_nearest2d(h, 2));
  }
  Tensor out = res->forward(h, temb);
  return attn ? attn->forward(out) : out;
}

// ---- the network -------------------------------------------------------------------------------

namespace {

// The paper's init: fan-average uniform weights (scale 1, or 0 for the last layer of a residual
// branch, so that the branch starts as the identity) and zero biases.
void init_layer(const Tensor& weight, const Tensor& bias, Generator* gen, bool zero = false) {
  if (zero) init::zeros_(weight);
  else init::fan_avg_uniform_(weight, 1.0, gen);
  if (bias.defined()) init::zeros_(bias);
}

bool contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// A ResBlock(cin -> cout) entry, with an AttnBlock when `res` is one of the attention resolutions.
std::shared_ptr<UNetEntry> make_res_entry(const UNetConfig& c, int64_t cin, int64_t cout, int64_t res, Generator* gen) {
  auto e = std::make_shared<UNetEntry>();
  e->res = e->register_module("res", std::make_shared<ResBlock>(cin, cout, 4 * c.ch, c.groups, c.dropout, gen));
  if (contains(c.attn_resolutions, res))
    e->attn = e->register_module("attn", std::make_shared<SelfAttention2d>(cout, std::min(c.groups, cout), gen));
  return e;
}

}  // namespace

UNet::UNet(const UNetConfig& c, Generator* gen) : config(c) {
  config.validate();
  try {
    build(gen);
  } catch (const std::invalid_argument& e) {
    // validate() checks the level widths; the up path's concatenations (h and a skip) can still fail
    // to split into groups, which the GroupNorm that meets them reports.
    throw std::invalid_argument(std::string("UNetConfig: ") + e.what() +
                                " (choose groups that divide every width, including the up path's concatenations)");
  }
}

DownPath build_down_path(ModuleList& down, const UNetConfig& c, Generator* gen) {
  const int64_t ch = c.ch;
  auto res_entry = [&](int64_t cin, int64_t cout, int64_t res) { return make_res_entry(c, cin, cout, res, gen); };
  // every entry's output channels go on skip_channels, which the up path takes back off the stack
  DownPath d;
  d.skip_channels = {ch};
  int64_t cur = ch, res = c.resolution;
  const int64_t levels = int64_t(c.ch_mult.size());
  for (int64_t level = 0; level < levels; ++level) {
    const int64_t out = ch * c.ch_mult[level];
    for (int64_t i = 0; i < c.num_res_blocks; ++i) {
      d.entries.push_back(down.push_back(res_entry(cur, out, res)));
      cur = out;
      d.skip_channels.push_back(cur);
    }
    if (level != levels - 1) {
      auto e = std::make_shared<UNetEntry>();
      e->downsample = e->register_module("downsample", std::make_shared<Conv2d>(cur, cur, 3, 2, 1, true, gen));
      d.entries.push_back(down.push_back(e));
      d.skip_channels.push_back(cur);
      res /= 2;
    }
  }
  d.channels = cur;
  d.resolution = res;
  return d;
}

void init_like_paper(Module& root, Generator* gen) {
  // Re-initialize every conv and linear as the paper's code does (the layers came with PyTorch's
  // default init); GroupNorms keep weight 1 and bias 0.
  auto init_tree = [&](auto&& self, Module& m) -> void {
    if (auto* conv = dynamic_cast<Conv2d*>(&m)) init_layer(conv->weight, conv->bias, gen);
    if (auto* convt = dynamic_cast<ConvTranspose2d*>(&m)) init_layer(convt->weight, convt->bias, gen);
    if (auto* lin = dynamic_cast<Linear*>(&m)) init_layer(lin->weight, lin->bias, gen);
    for (const auto& [name, child] : m.named_children()) self(self, *child);
  };
  init_tree(init_tree, root);
  auto zero_branch_ends = [&](auto&& self, Module& m) -> void {
    if (auto* rb = dynamic_cast<ResBlock*>(&m)) init_layer(rb->conv2->weight, rb->conv2->bias, gen, true);
    if (auto* attn = dynamic_cast<SelfAttention2d*>(&m)) init_layer(attn->proj->weight, attn->proj->bias, gen, true);
    for (const auto& [name, child] : m.named_children()) self(self, *child);
  };
  zero_branch_ends(zero_branch_ends, root);
}

void UNet::build(Generator* gen) {
  const UNetConfig& c = config;
  const int64_t ch = c.ch, temb_ch = 4 * ch;
  temb1_ = register_module("temb1", std::make_shared<Linear>(ch, temb_ch, true, gen));
  temb2_ = register_module("temb2", std::make_shared<Linear>(temb_ch, temb_ch, true, gen));
  conv_in_ = register_module("conv_in", std::make_shared<Conv2d>(c.in_channels, ch, 3, 1, 1, true, gen));

  down_ = register_module("down", std::make_shared<ModuleList>());
  DownPath d = build_down_path(*down_, c, gen);
  down_entries_ = d.entries;
  std::vector<int64_t>& skip_channels = d.skip_channels;
  int64_t cur = d.channels, res = d.resolution;
  const int64_t levels = int64_t(c.ch_mult.size());

  mid1_ = register_module("mid1", std::make_shared<ResBlock>(cur, cur, temb_ch, c.groups, c.dropout, gen));
  mid_attn_ = register_module("mid_attn", std::make_shared<SelfAttention2d>(cur, std::min(c.groups, cur), gen));
  mid2_ = register_module("mid2", std::make_shared<ResBlock>(cur, cur, temb_ch, c.groups, c.dropout, gen));

  auto res_entry = [&](int64_t cin, int64_t cout, int64_t r) { return make_res_entry(c, cin, cout, r, gen); };
  up_ = register_module("up", std::make_shared<ModuleList>());
  for (int64_t level = levels - 1; level >= 0; --level) {
    const int64_t out = ch * c.ch_mult[level];
    for (int64_t i = 0; i < c.num_res_blocks + 1; ++i) {
      const int64_t skip = skip_channels.back();
      skip_channels.pop_back();
      up_entries_.push_back(up_->push_back(res_entry(cur + skip, out, res)));
      cur = out;
    }
    if (level != 0) {
      auto e = std::make_shared<UNetEntry>();
      if (c.upsample == "transposed")
        e->upsample = e->register_module("upsample", std::make_shared<ConvTranspose2d>(cur, cur, 4, 2, 1, 0, true, gen));
      else
        e->upsample = e->register_module("upsample", std::make_shared<Conv2d>(cur, cur, 3, 1, 1, true, gen));
      up_entries_.push_back(up_->push_back(e));
      res *= 2;
    }
  }

  norm_out_ = register_module("norm_out", std::make_shared<GroupNorm>(groups_for(c, cur), cur));
  conv_out_ = register_module("conv_out", std::make_shared<Conv2d>(cur, c.output_channels(), 3, 1, 1, true, gen));
  init_like_paper(*this, gen);
  init_layer(conv_out_->weight, conv_out_->bias, gen, true);
  // The class table is drawn last, so that an unconditional model's init is what it always was.
  if (c.class_conditional())
    class_emb_ = register_module("class_emb", std::make_shared<Embedding>(c.num_classes + 1, temb_ch, gen));
}

const Tensor& UNet::frequencies(DType dtype, Device device) {
  if (!freq_.defined() || freq_.dtype() != dtype || freq_.device() != device)
    freq_ = timestep_frequencies(config.ch, dtype, device);
  return freq_;
}

Tensor UNet::forward(const Tensor& x, const Tensor& t, const Tensor& y) {
  const UNetConfig& c = config;
  DDPM_CHECK(x.dim() == 4 && x.size(1) == c.in_channels && x.size(2) == c.resolution && x.size(3) == c.resolution,
             "UNet: x has shape ", shape_str(x.shape()), ", expected [B, ", c.in_channels, ", ", c.resolution, ", ",
             c.resolution, "]");
  DDPM_CHECK(t.dim() == 1 && t.size(0) == x.size(0), "UNet: t has shape ", shape_str(t.shape()), ", expected [",
             x.size(0), "] (one timestep per image)");
  DDPM_CHECK(t.device() == x.device(), "UNet: t is on ", t.device().str(), " but x is on ", x.device().str());

  // temb: [B, 4ch]
  Tensor temb = timestep_embedding(t, frequencies(temb1_->weight.dtype(), x.device()));
  temb = temb2_->forward(silu(temb1_->forward(temb)));
  if (class_emb_) {
    // + the class's row ([B, 4ch]); no label is the null class
    Tensor labels = y.defined() ? y : full({x.size(0)}, double(c.null_class()), TensorOptions(DType::Int64, x.device()));
    DDPM_CHECK(labels.dim() == 1 && labels.size(0) == x.size(0) && labels.dtype() == DType::Int64, "UNet: y is ",
               describe(labels), ", expected int64 [", x.size(0), "] class labels");
    DDPM_CHECK(labels.device() == x.device(), "UNet: y is on ", labels.device().str(), " but x is on ", x.device().str());
    temb = temb + class_emb_->forward(labels);
  } else {
    DDPM_CHECK(!y.defined(), "UNet: class labels y were given, but this model is unconditional (num_classes 0; "
               "train it with --class-cond)");
  }

  // down, pushing conv_in's output and every entry's output on the skip stack
  std::vector<Tensor> skips = {conv_in_->forward(x)};
  for (const auto& e : down_entries_) skips.push_back(e->forward(skips.back(), temb));

  Tensor h = skips.back();
  h = mid2_->forward(mid_attn_->forward(mid1_->forward(h, temb)), temb);

  // up: each ResBlock takes cat([h, skip]) on the channel axis
  for (const auto& e : up_entries_) {
    if (e->res) {
      h = cat({h, skips.back()}, 1);
      skips.pop_back();
    }
    h = e->forward(h, temb);
  }
  return conv_out_->forward_silu(norm_out_->forward(h));  // conv_out(silu(norm_out(h)))
}

}  // namespace ddpm
