// Qcow2GuestFile: guest reads clipped to the virtual size, one at a time.
#include "lib/qcow2/qcow2_guest_file.h"

#include <algorithm>

namespace e2q::qcow2 {

Qcow2GuestFile::Qcow2GuestFile(std::unique_ptr<Qcow2Reader> reader)
    : io::ReadOnlyFile(reader->name(), "image"), reader_(std::move(reader)) {}

Result<size_t> Qcow2GuestFile::ReadSome(uint64_t offset, void* buf,
                                        size_t len) {
  const uint64_t size = reader_->virtual_size();
  if (offset >= size || len == 0) return size_t{0};
  len = static_cast<size_t>(std::min<uint64_t>(len, size - offset));
  std::lock_guard<std::mutex> lock(mu_);
  E2Q_RETURN_IF_ERROR(reader_->Read(offset, buf, len));
  return len;
}

}  // namespace e2q::qcow2
