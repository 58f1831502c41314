// AlignedBuffer: a fixed-capacity byte buffer whose storage starts on a
// kDirectIoAlignment boundary, so that full buffers can be written with
// O_DIRECT (see PosixFile::EnableDirectWrites) instead of being copied
// through the page cache.
#ifndef E2Q_LIB_IO_ALIGNED_BUFFER_H_
#define E2Q_LIB_IO_ALIGNED_BUFFER_H_

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace e2q::io {

// Alignment of memory, file offsets and lengths that O_DIRECT accepts on
// every Linux block device (logical blocks of up to 4 KiB).
constexpr size_t kDirectIoAlignment = 4096;

struct AlignedFree {
  void operator()(uint8_t* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<uint8_t[], AlignedFree>;

// `size` bytes, uninitialised, aligned to kDirectIoAlignment.  Throws
// std::bad_alloc like new[].
inline AlignedBytes AllocateAligned(size_t size) {
  size_t rounded = (size + kDirectIoAlignment - 1) / kDirectIoAlignment *
                   kDirectIoAlignment;
  void* p = std::aligned_alloc(kDirectIoAlignment,
                               rounded == 0 ? kDirectIoAlignment : rounded);
  if (p == nullptr) throw std::bad_alloc();
  return AlignedBytes(static_cast<uint8_t*>(p));
}

// From kHugePageBytes on, AllocateLarge() aligns to and rounds up to 2 MiB
// and asks for huge pages (where the kernel has them, as Debian's
// "madvise" setting gives): one page fault per 2 MiB touched instead of
// 512 (the copy's and the scan's buffers were 3/4 of a metadata export's
// page faults).  Below, it is AllocateAligned().  Uninitialised.
constexpr size_t kHugePageBytes = 2 << 20;
inline AlignedBytes AllocateLarge(size_t size) {
  if (size < kHugePageBytes) return AllocateAligned(size);
  const size_t rounded =
      (size + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  void* p = std::aligned_alloc(kHugePageBytes, rounded);
  if (p == nullptr) throw std::bad_alloc();
  // A hint: refused (no THP in this kernel), the pages are small ones.
  ::madvise(p, rounded, MADV_HUGEPAGE);
  return AlignedBytes(static_cast<uint8_t*>(p));
}

// AllocateLarge(), zero-filled, so that its pages are in place: a read into
// it then takes only the read's time, which io::SlowReads judges (a read
// into fresh pages waits for their faults, and every warm -Q took that for
// a slow device).
inline AlignedBytes AllocateTouched(size_t size) {
  AlignedBytes p = AllocateLarge(size);
  std::memset(p.get(), 0, size);
  return p;
}

class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t capacity)
      : data_(AllocateAligned(capacity)), capacity_(capacity) {}

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  bool full() const { return size_ == capacity_; }
  void clear() { size_ = 0; }

  // Appends up to `len` bytes, as many as fit; returns how many.
  size_t Append(const uint8_t* p, size_t len) {
    size_t n = len < capacity_ - size_ ? len : capacity_ - size_;
    std::memcpy(data_.get() + size_, p, n);
    size_ += n;
    return n;
  }

 private:
  AlignedBytes data_;
  size_t capacity_;
  size_t size_ = 0;
};

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_ALIGNED_BUFFER_H_
