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

io::File::Stretch Qcow2GuestFile::StretchAt(uint64_t offset) {
  // A stretch of at most this much is mapped at a time: the L2 tables of a
  // long one are read only when a reader gets there.
  constexpr uint64_t kMapAhead = uint64_t{256} << 20;
  const uint64_t size = reader_->virtual_size();
  if (offset >= size) return {};
  std::lock_guard<std::mutex> lock(mu_);
  Result<Qcow2Reader::Extent> e =
      reader_->Map(offset, std::min(kMapAhead, size - offset));
  if (!e.ok() || e->len == 0) return {};
  return {e->kind == Qcow2Reader::ExtentKind::kZero, offset + e->len};
}

}  // namespace e2q::qcow2
