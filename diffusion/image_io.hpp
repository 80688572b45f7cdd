// Writing images and arrays: PNG grids of samples (and strips of the progressive x0 predictions),
// and NumPy .npy files so that samples can be read by Python for FID and plots.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace ddpm {

// Tiles images [N, C, H, W] (C = 1 or 3, values in [-1, 1] and clamped, any device, any floating
// dtype) into a grid of `ncols` columns (0: ceil(sqrt(N))) with `padding` pixels of neutral grey
// (128) around and between tiles; empty tiles of the last row are grey too. Writes a PNG of C
// channels atomically (a temporary file renamed into place). Pixel = round((x + 1) * 127.5).
// Throws std::invalid_argument on a bad shape or argument, std::runtime_error when the file cannot be
// written.
void save_image_grid(const std::string& path, const Tensor& images, int64_t ncols = 0, int64_t padding = 2);

// frames[j]: [N, C, H, W], all the same shape (e.g. the x0 predictions at a few timesteps). Row i of
// the PNG shows sample i in each frame, left to right: an N x frames.size() grid.
void save_image_strip(const std::string& path, const std::vector<Tensor>& frames, int64_t padding = 2);

// NumPy .npy: format version 1.0, '<f4' (float32 little-endian), C order; the header is padded so
// the data starts at a multiple of 64 bytes, as numpy writes it. Any dtype and device is converted
// to float32 on the way out. Written atomically.
void save_npy(const std::string& path, const Tensor& x);
// Reads format 1.x, 2.x or 3.x with descr '<f4' or '<f8' (converted to float32) and fortran_order
// False, up to 6 dims. Anything else throws std::runtime_error naming the file and what it found.
Tensor load_npy(const std::string& path);

}  // namespace ddpm
