// AtomicFile: POSIX open/write/fsync/rename, with EINTR retried and every failure named.
#include "nn/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace ddpm {

AtomicFile::AtomicFile(std::string who, std::string path)
    : who_(std::move(who)), path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(::getpid())) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_io("cannot create the temporary file '" + tmp_ + "'");
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t written = ::write(fd_, p, n);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) fail_io("cannot write '" + tmp_ + "'");
    p += written;
    n -= size_t(written);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail_io("cannot flush '" + tmp_ + "' to disk");
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_io("cannot close '" + tmp_ + "'");
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail_io("cannot rename '" + tmp_ + "' to it");
  committed_ = true;
  // Make the rename itself durable; a failure here leaves a complete file, so it is not an error.
  std::string dir = std::filesystem::path(path_).parent_path().string();
  int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

void AtomicFile::fail_io(const std::string& what) const {
  throw std::runtime_error(who_ + ": '" + path_ + "': " + what + ": " + std::strerror(errno));
}

}  // namespace ddpm
