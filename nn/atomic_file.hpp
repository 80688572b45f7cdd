// A file written under a temporary name (PATH.tmp.<pid>) and renamed over PATH by commit(): a reader
// never sees a half-written file, and a crash leaves the old one. Checkpoints, grids and arrays are
// all written this way.
//
//   AtomicFile file("save_npy", path);
//   file.write(header.data(), header.size());
//   file.commit();
#pragma once
#include <cstddef>
#include <string>

namespace ddpm {

class AtomicFile {
 public:
  // `who` starts every error message ("save_safetensors: 'PATH': cannot ...: <errno text>").
  AtomicFile(std::string who, std::string path);
  // Without a commit, removes the temporary file.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  // Flushes the data to disk, then renames: after a crash either the old file or the whole new one
  // is there, never a partial one.
  void commit();

 private:
  [[noreturn]] void fail_io(const std::string& what) const;

  std::string who_, path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace ddpm
