// The DDPM U-Net eps_theta(x_t, t) of Ho et al. 2020, exactly as docs/unet.md
// lays it out: the same blocks, parameter names, initialization and presets (tiny, small, cifar10),
// so that our checkpoints load tensor for tensor into the equivalent PyTorch module.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.hpp"

namespace ddpm {

struct UNetConfig {
  int64_t in_channels = 1;
  int64_t out_channels = 0;                 // channels of the output; 0: in_channels (2 * in_channels for a
                                            // model that also predicts its variances, as learned-range)
  int64_t ch = 16;                          // base channels
  std::vector<int64_t> ch_mult = {1, 2, 2};  // channels ch * m at each level; the resolution halves per level
  int64_t num_res_blocks = 1;               // ResBlocks per level going down (one more going up)
  std::vector<int64_t> attn_resolutions;    // resolutions with an AttnBlock after each ResBlock
  int64_t groups = 32;                      // GroupNorm groups: min(groups, channels)
  double dropout = 0.0;
  int64_t resolution = 32;                  // the image size (square)
  std::string upsample = "nearest";         // "nearest" (2x nearest, then 3x3 conv) or "transposed"
  int64_t num_classes = 0;                  // > 0: class-conditional, with a class embedding of num_classes + 1
                                            // rows (the last, index num_classes, the null class) added to the
                                            // time embedding (Ho & Salimans 2022); 0: unconditional

  // Throws std::invalid_argument naming the first bad field (sizes < 1, resolution not divisible by
  // 2^(levels-1), channels not divisible by their group count, unknown upsample).
  void validate() const;
  // As flat string pairs (the checkpoint's metadata) and back; from_metadata validates.
  std::map<std::string, std::string> to_metadata() const;
  // (unet.out_channels and unet.num_classes are optional there: checkpoints from before they existed
  // output in_channels and are unconditional; num_classes is written only when > 0.)
  static UNetConfig from_metadata(const std::map<std::string, std::string>& metadata);
  // A lower bound on the network's parameter count (the 3x3 convs of the down path's ResBlocks and the
  // class table), computed without building it: a file whose metadata describes a U-Net needs at least
  // this many weights, so a damaged or hostile file cannot make us build a network far larger than
  // the tensors it holds (load_model_checkpoint checks it). In double: it cannot overflow.
  double min_parameters() const;
  int64_t output_channels() const { return out_channels > 0 ? out_channels : in_channels; }
  bool class_conditional() const { return num_classes > 0; }
  int64_t null_class() const { return num_classes; }  // the label of "no class" (classifier-free guidance)
};

// The presets of the spec: "tiny" (CPU demo, 267,313 parameters), "small" (1,623,169), "cifar10"
// (the paper's, 35,746,307). Unknown names throw, listing the known ones.
UNetConfig unet_preset(const std::string& name);
std::vector<std::string> unet_preset_names();

// Sinusoidal embedding of the timestep indices. t: [B] (any dtype) -> [B, dim] in `dtype` on t's
// device: half = dim / 2, freq_i = exp(-ln(10000) i / (half - 1)), [sin(t freq), cos(t freq)] (sin
// first). dim is even and at least 4. Makes the frequencies on the host and uploads them each call;
// the UNet keeps them on its device instead (the two forms below).
Tensor timestep_embedding(const Tensor& t, int64_t dim, DType dtype = DType::Float32);
// The frequencies freq_i above as a [1, dim / 2] tensor in `dtype` on `device` (computed in float64
// on the host, then converted and uploaded: one upload).
Tensor timestep_frequencies(int64_t dim, DType dtype, Device device);
// The embedding with frequencies from timestep_frequencies (on t's device, in the embedding's dtype):
// no upload. [B] -> [B, 2 * freq.size(1)], the same values as the form above.
Tensor timestep_embedding(const Tensor& t, const Tensor& freq);

// ResBlock(cin -> cout) with a time-embedding projection. Children: norm1, conv1, temb, norm2,
// conv2, skip (1x1 conv, only when cin != cout).
class ResBlock : public Module {
 public:
  ResBlock(int64_t cin, int64_t cout, int64_t temb_channels, int64_t groups, double dropout, Generator* gen);
  const char* type_name() const override { return "ResBlock"; }
  // x: [B, cin, H, W], temb: [B, temb_channels] -> [B, cout, H, W]
  Tensor forward(const Tensor& x, const Tensor& temb);

  std::shared_ptr<GroupNorm> norm1, norm2;
  std::shared_ptr<Conv2d> conv1, conv2, skip;  // skip null when cin == cout
  std::shared_ptr<Linear> temb;
  std::shared_ptr<Dropout> drop;
};

// One entry of the U-Net's `down` or `up` list: a ResBlock with an optional AttnBlock (children
// "res", "attn"), or a resampler (child "downsample" or "upsample"), so that the parameter names are
// the spec's: down.{i}.res.conv1.weight, up.{i}.upsample.weight, ...
class UNetEntry : public Module {
 public:
  const char* type_name() const override { return "UNetEntry"; }
  // h: [B, C, H, W], temb: [B, 4ch] -> [B, C', H', W']
  Tensor forward(const Tensor& h, const Tensor& temb);

  std::shared_ptr<ResBlock> res;
  std::shared_ptr<SelfAttention2d> attn;
  std::shared_ptr<Conv2d> downsample;  // 3x3, stride 2
  std::shared_ptr<Module> upsample;    // Conv2d after 2x nearest, or ConvTranspose2d(k=4, s=2, p=1)
};

// The down path of the spec, shared by the U-Net and the noise-aware classifier (its encoder half):
// the entries appended to `down` (ResBlocks, attention, downsamplers), the channels of each output the
// up path takes back (conv_in's first), and the channels and resolution at the bottom.
struct DownPath {
  std::vector<std::shared_ptr<UNetEntry>> entries;
  std::vector<int64_t> skip_channels;
  int64_t channels = 0, resolution = 0;
};
DownPath build_down_path(ModuleList& down, const UNetConfig& config, Generator* gen);
// The paper's init of every conv and linear under `m` (fan-average uniform, zero biases), with the last
// layer of every residual branch (ResBlock conv2, attention proj) zeroed so that the branch starts as
// the identity. GroupNorms and embeddings keep theirs.
void init_like_paper(Module& m, Generator* gen);

class UNet : public Module {
 public:
  // Initialized as the paper's code (fan-average uniform, zero biases, zero conv2/proj/conv_out),
  // from `gen` (null: the default generator). The Dropout layers keep drawing their masks from `gen`,
  // so it must outlive the model.
  explicit UNet(const UNetConfig& config, Generator* gen = nullptr);
  const char* type_name() const override { return "UNet"; }
  // x_t: [B, in_channels, resolution, resolution] float, t: [B] integer timestep indices
  // (0 .. T-1) -> the network's prediction, [B, output_channels(), resolution, resolution].
  // y: [B] int64 class labels 0 .. num_classes (num_classes: the null class) of a class-conditional
  // model; undefined: every image gets the null class. An unconditional model takes no y.
  Tensor forward(const Tensor& x, const Tensor& t, const Tensor& y = Tensor());

  const UNetConfig config;

 private:
  void build(Generator* gen);
  // timestep_frequencies(config.ch, dtype, device), made on the first forward on that device and
  // dtype and kept, so that a forward uploads nothing.
  const Tensor& frequencies(DType dtype, Device device);

  Tensor freq_;

  std::shared_ptr<Linear> temb1_, temb2_;
  std::shared_ptr<Embedding> class_emb_;  // num_classes + 1 rows of 4ch; null when unconditional
  std::shared_ptr<Conv2d> conv_in_, conv_out_;
  std::shared_ptr<ModuleList> down_, up_;
  std::vector<std::shared_ptr<UNetEntry>> down_entries_, up_entries_;
  std::shared_ptr<ResBlock> mid1_, mid2_;
  std::shared_ptr<SelfAttention2d> mid_attn_;
  std::shared_ptr<GroupNorm> norm_out_;
};

}  // namespace ddpm
