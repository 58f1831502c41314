// File helpers shared by every implementation, and MemFile.
#include "lib/io/file.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace e2q::io {

Status ReadOnlyFile::WriteAt(uint64_t, const void*, size_t) {
  return Status::NotSupported(name() + ": write: the " + what_ +
                              " is read-only");
}

Status ReadOnlyFile::Truncate(uint64_t) {
  return Status::NotSupported(name() + ": truncate: the " + what_ +
                              " is read-only");
}

Status File::ZeroRange(uint64_t offset, uint64_t len) {
  static const std::vector<uint8_t> zeros(1 << 20);
  while (len > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(len, zeros.size()));
    E2Q_RETURN_IF_ERROR(WriteAt(offset, zeros.data(), n));
    offset += n;
    len -= n;
  }
  return Status::OK();
}

Status File::ReadAt(uint64_t offset, void* buf, size_t len) {
  auto* p = static_cast<uint8_t*>(buf);
  while (len > 0) {
    E2Q_ASSIGN_OR_RETURN(size_t n, ReadSome(offset, p, len));
    if (n == 0) {
      return Status::Corruption(name() + ": read at offset " +
                                std::to_string(offset) +
                                ": unexpected end of file");
    }
    p += n;
    offset += n;
    len -= n;
  }
  return Status::OK();
}

Result<size_t> MemFile::ReadSome(uint64_t offset, void* buf, size_t len) {
  if (offset >= data_.size()) return size_t{0};
  size_t n = std::min<uint64_t>(len, data_.size() - offset);
  std::memcpy(buf, data_.data() + offset, n);
  return n;
}

Status MemFile::WriteAt(uint64_t offset, const void* buf, size_t len) {
  if (offset + len > data_.size()) data_.resize(offset + len);
  std::memcpy(data_.data() + offset, buf, len);
  return Status::OK();
}

Status MemFile::Truncate(uint64_t size) {
  data_.resize(size);
  return Status::OK();
}

namespace {
FileInterposer g_interposer = nullptr;
}  // namespace

void SetFileInterposer(FileInterposer interposer) {
  g_interposer = interposer;
}

std::unique_ptr<File> Interpose(std::unique_ptr<File> file, FileRole role) {
  if (g_interposer == nullptr) return file;
  return g_interposer(std::move(file), role);
}

}  // namespace e2q::io
