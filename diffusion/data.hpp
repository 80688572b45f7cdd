// Training data: images from IDX files (Fashion-MNIST) or a folder of PNG/JPEG files, as float32
// [N, C, H, W] in [-1, 1], and a BatchLoader that serves deterministic shuffled mini-batches.
#pragma once
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace ddpm {

// Every loader returns images as float32 [N, C, H, W] in [-1, 1] on the CPU: pixel p in 0..255 maps
// to p / 127.5 - 1. Bad input throws std::runtime_error (or std::invalid_argument for bad arguments)
// whose message names the file and the problem.

// IDX unsigned-byte images (gzipped or raw, told apart by content): 3 dims [N, H, W] -> [N, 1, H, W];
// 4 dims [N, H, W, C] (C = 1 or 3) -> [N, C, H, W]. pad_to > 0 pads while decoding, giving
// [N, C, pad_to, pad_to] exactly as pad_images(load_idx_images(path), pad_to) but without the
// intermediate copy (images larger than pad_to throw std::invalid_argument).
Tensor load_idx_images(const std::string& path, int64_t pad_to = 0);

// Centers each image of [N, C, H, W] in a size x size canvas filled with the background value -1
// (pixel 0), as the DDPM paper pads MNIST-like 28x28 images to 32x32. size < H or W throws.
// An odd margin puts the extra pixel at the bottom / right.
Tensor pad_images(const Tensor& images, int64_t size);

// Image files (PNG and JPEG, told apart by their first bytes, whatever the name says; nothing else is
// decoded) are refused, before anything is decoded or allocated for their pixels, when the file is
// larger than kMaxImageFileBytes, its header gives an empty image, a side above kMaxImageSide or more
// than kMaxImagePixels in all, or a PNG promises more pixels than its bytes can hold. Each file is
// read once and decoded once. `size` (the side of the output) is at most kMaxImageSide too.
constexpr uint64_t kMaxImageFileBytes = uint64_t(256) << 20;  // 256 MiB
constexpr int kMaxImageSide = 16384;
constexpr int64_t kMaxImagePixels = int64_t(1) << 26;  // 64 Mpx, 8192 x 8192

// One PNG/JPEG file as load_image_folder decodes each: [1, channels, size, size].
Tensor load_image_file(const std::string& path, int64_t size, int64_t channels);

// Every *.png, *.jpg, *.jpeg file (extension case-insensitive) directly in `dir`, sorted by file
// name, decoded to `channels` (1: grey, 3: RGB; alpha is dropped), the short side resized to `size`
// (antialiased bilinear, so down- and up-scaling both work) and center-cropped: [N, channels, size, size].
Tensor load_image_folder(const std::string& dir, int64_t size, int64_t channels);

// IDX unsigned-byte labels (gzipped or raw): 1 dim [N] -> int64 [N].
Tensor load_idx_labels(const std::string& path);


//   "fashion-mnist"  the Debian package dataset-fashion-mnist's training images
//                    (default_fashion_mnist_path()), padded to size;
//   a .png/.jpg/.jpeg one image (load_image_file);
//   a .npy file      float32 [N, channels, size, size] in [-1, 1] (as tools/sample --npy writes);
//   another file     IDX images, padded to size; its channel count must equal `channels`;
//   a directory      an image folder (load_image_folder).
// channels: 1 or 3. Returns [N, channels, size, size].
Tensor load_dataset(const std::string& spec, int64_t size, int64_t channels);

// $DDPM_FASHION_MNIST_DIR (or /usr/share/datasets/fashion-mnist) + "/train-images-idx3-ubyte.gz"
// (split "train", 60000 images) or "/t10k-images-idx3-ubyte.gz" (split "test", 10000 images), or the
// uncompressed file where only that one is there. Another split throws std::invalid_argument.
std::string default_fashion_mnist_path(const std::string& split = "train");
// The labels beside those images: train-labels-idx1-ubyte(.gz) or t10k-labels-idx1-ubyte(.gz).
std::string default_fashion_mnist_labels_path(const std::string& split = "train");
// Fashion-MNIST's ten class names, label 0 to 9 ("T-shirt/top", "Trouser", ..., "Ankle boot").
const std::vector<std::string>& fashion_mnist_classes();

// Images with a class label each (class-conditional training):
//   "fashion-mnist"  its training images and labels;
//   an IDX image file, with labels_path an IDX label file of as many labels;
//   a directory of subfolders, one per class: class k is the k-th subfolder holding images, sorted by
//                    name (subfolders without images are skipped; at least two classes).
struct LabeledImages {
  Tensor images;                         // [N, channels, size, size] as load_dataset
  Tensor labels;                         // [N] int64, 0 .. class_names.size() - 1
  std::vector<std::string> class_names;  // Fashion-MNIST's names, the subfolders', or "0", "1", ...
};
LabeledImages load_labeled_dataset(const std::string& spec, int64_t size, int64_t channels,
                                   const std::string& labels_path = "");

// Deterministic shuffled mini-batches. The data is read as an endless stream of epochs: sample
// position p = k * B + i (batch k, row i) is image perm_e[p % N] of epoch e = p / N, where perm_e is
// a permutation of 0..N-1 drawn from Philox with (seed, e). So batch k is a pure function of
// (seed, k): a batch that straddles an epoch end continues into the next epoch's permutation, and a
// run resumed at step k only needs k. A batch larger than N is allowed and simply spans several
// epochs (each image then appears floor(B / N) or more times in it).
// With hflip, row i of batch k is mirrored left-right with probability 1/2 (a pure function of
// seed, k and i as well).
// next() returns batch k on `device` and starts computing batch k + 1 on a background thread, so
// the gather overlaps the training step; the copy to the device happens on the calling thread (the
// thread that owns the device's stream). With labels ([N], one per image), labels(k) gives batch k's.
class BatchLoader {
 public:
  // images: [N, C, H, W], converted to a contiguous float32 CPU copy if it is not one already.
  BatchLoader(Tensor images, int64_t batch_size, uint64_t seed, bool hflip, Device device = Device::cpu(),
              int64_t start_batch = 0, Tensor labels = Tensor());
  ~BatchLoader();  // waits for the batch being prefetched
  BatchLoader(const BatchLoader&) = delete;             // the prefetch task points at this object
  BatchLoader& operator=(const BatchLoader&) = delete;

  Tensor next();                 // batch next_index() as [B, C, H, W] float32 on the device; advances
  int64_t next_index() const { return next_; }  // k of the batch next() will return
  int64_t num_images() const { return images_.size(0); }
  int64_t batch_size() const { return batch_size_; }
  double epoch() const { return double(next_) * double(batch_size_) / double(num_images()); }  // epochs served
  Tensor batch(int64_t k) const;  // batch k on the CPU, computed on this thread (tests, debugging)
  // The labels of batch k's images, int64 [B] on the CPU, each replaced by null_label with probability
  // p_drop (label_dropped: a pure function of seed, k and row, so a resumed run drops the same ones).
  Tensor labels(int64_t k, double p_drop = 0.0, int64_t null_label = -1) const;

  // The permutation of epoch e (exposed for tests): a pure function of (seed, e).
  static std::vector<int64_t> epoch_permutation(uint64_t seed, int64_t e, int64_t n);
  // Whether row i of batch k is mirrored (when hflip is on): a pure function of (seed, k, i).
  static bool flip_bit(uint64_t seed, int64_t k, int64_t i);
  // Whether row i of batch k loses its label (classifier-free guidance's label dropout): u < p, u a
  // uniform from Philox of (seed, k, i) in its own stream.
  static bool label_dropped(uint64_t seed, int64_t k, int64_t i, double p);

 private:
  std::shared_ptr<const std::vector<int64_t>> permutation(int64_t e) const;  // cached

  Tensor images_;  // [N, C, H, W] float32, contiguous, CPU
  Tensor labels_;  // [N] int64, CPU; undefined without labels
  int64_t batch_size_;
  uint64_t seed_;
  bool hflip_;
  Device device_;
  int64_t next_;

  // The two most recently used epoch permutations (a batch touches at most a few consecutive ones).
  mutable std::mutex cache_mutex_;
  mutable std::vector<std::pair<int64_t, std::shared_ptr<const std::vector<int64_t>>>> cache_;

  std::future<Tensor> prefetch_;  // batch prefetch_index_, being computed on a background thread
  int64_t prefetch_index_ = -1;
};

}  // namespace ddpm
