// POSIX implementations of File: positioned I/O on a descriptor, and a
// forward-only stream (standard output) that fills gaps with zeros.
#include "lib/io/posix_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "lib/io/aligned_buffer.h"
#include "lib/io/image_lock.h"

namespace e2q::io {

namespace {

// Smaller writes are not worth a synchronous trip to the device.
constexpr size_t kDirectWriteMin = 256 << 10;
// Writes through the page cache go in pieces of this size (as cp's), so
// that the kernel fills them with small page-cache folios.  With 1-2 MiB
// writes it asks for large folios, which cost it a lot when memory is
// fragmented: -Qa of the benchmark filesystem right after a cp took 4.5-7.3
// s (system time) instead of 1.5-2.8 s in 128 KiB pieces; otherwise both
// took 1.2-2 s.
constexpr size_t kCachedWriteMax = 128 << 10;

bool Aligned(uint64_t v) { return v % kDirectIoAlignment == 0; }

}  // namespace

PosixFile::~PosixFile() {
  read_ahead_.reset();  // its threads read fd_
  if (direct_fd_ >= 0) ::close(direct_fd_);
  if (fd_ >= 0 && owns_fd_) ::close(fd_);
}

bool PosixFile::EnableDirectWrites() {
  if (direct_fd_ >= 0) return true;
  struct stat st;
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  std::string self = "/proc/self/fd/" + std::to_string(fd_);
  int fd = ::open(self.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return false;
  direct_fd_ = fd;
  return true;
}

void PosixFile::Prefetch(uint64_t offset, uint64_t len) {
  if (len == 0) return;
  std::call_once(read_ahead_once_,
                 [this] { read_ahead_ = std::make_unique<ReadAhead>(this); });
  read_ahead_->Announce(offset, len);
}

int64_t PosixFile::ReadWaits() const {
  return nowait_.load(std::memory_order_relaxed)
             ? read_waits_.load(std::memory_order_relaxed)
             : -1;
}

Result<size_t> PosixFile::ReadSome(uint64_t offset, void* buf, size_t len) {
  // What the page cache holds first: a warm read costs no more than a
  // pread, and a cold one one more call that returns at once.
  size_t cached = 0;
  if (len > 0 && nowait_.load(std::memory_order_relaxed)) {
    struct iovec iov = {buf, len};
    ssize_t n = ::preadv2(fd_, &iov, 1, static_cast<off_t>(offset), RWF_NOWAIT);
    if (n == static_cast<ssize_t>(len) || n == 0) return static_cast<size_t>(n);
    if (n > 0) {
      cached = static_cast<size_t>(n);  // the rest is not cached, or past EOF
    } else if (errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS) {
      nowait_.store(false, std::memory_order_relaxed);
    }
    // Other errors (EAGAIN: nothing cached) are left to the read below,
    // which reports them if they persist.
  }
  auto* rest = static_cast<uint8_t*>(buf) + cached;
  for (;;) {
    ssize_t n =
        ::pread(fd_, rest, len - cached, static_cast<off_t>(offset + cached));
    if (n >= 0) {
      if (n > 0 && nowait_.load(std::memory_order_relaxed)) {
        read_waits_.fetch_add(1, std::memory_order_relaxed);
      }
      return cached + static_cast<size_t>(n);
    }
    if (cached > 0) return cached;  // the next call reports the error
    if (errno != EINTR) {
      return Status::FromErrno(name(),
                               "read at offset " + std::to_string(offset),
                               errno);
    }
  }
}

namespace {

// Stretches from FS_IOC_FIEMAP: at most this many extents per call,
// consecutive ones of one kind merged.
constexpr uint32_t kFiemapExtents = 32;

// The stretch at `at` from the file's extent map, or false where the file
// system has none (ENOTTY, EOPNOTSUPP: tmpfs, FUSE, NFS) or the call fails.
// Holes are the gaps between extents and unwritten (preallocated) extents.
// FIEMAP_FLAG_SYNC writes dirty pages back first, so that data still in
// the page cache has become written extents (an unwritten extent with
// dirty pages holds data, and a delayed allocation has no extent yet).
bool FiemapStretch(int fd, uint64_t at, uint64_t size, File::Stretch* out) {
  alignas(struct fiemap)
      uint8_t buf[sizeof(struct fiemap) +
                  kFiemapExtents * sizeof(struct fiemap_extent)] = {};
  auto* map = reinterpret_cast<struct fiemap*>(buf);
  map->fm_start = at;
  map->fm_length = FIEMAP_MAX_OFFSET - at;
  map->fm_flags = FIEMAP_FLAG_SYNC;
  map->fm_extent_count = kFiemapExtents;
  if (::ioctl(fd, FS_IOC_FIEMAP, map) != 0) return false;
  const struct fiemap_extent* extents = map->fm_extents;
  const uint32_t n = std::min(map->fm_mapped_extents, kFiemapExtents);
  if (n == 0 || extents[0].fe_logical > at) {
    // A gap: a hole up to the next extent, or to the end of the file.
    const uint64_t end = n == 0 ? size : extents[0].fe_logical;
    *out = end > at ? File::Stretch{true, end} : File::Stretch{};
    return true;
  }
  // Preallocated space reads as zeros; an extent whose state is not
  // known yet (delayed allocation, which the writeback should have ended)
  // is data.
  auto hole = [](const struct fiemap_extent& e) {
    return (e.fe_flags & FIEMAP_EXTENT_UNWRITTEN) != 0 &&
           (e.fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC)) == 0;
  };
  const bool kind = hole(extents[0]);
  uint64_t end = extents[0].fe_logical + extents[0].fe_length;
  for (uint32_t i = 1;
       i < n && extents[i].fe_logical == end && hole(extents[i]) == kind; ++i) {
    end += extents[i].fe_length;
  }
  if (end <= at) return false;  // an answer that does not hold `at`
  *out = File::Stretch{kind, end};
  return true;
}

}  // namespace

File::Stretch PosixFile::StretchAt(uint64_t offset) {
  int state = holes_.load(std::memory_order_relaxed);
  if (state == kHolesNone || offset > static_cast<uint64_t>(INT64_MAX)) {
    return {};
  }
  struct stat st;
  if (::fstat(fd_, &st) != 0) return {};
  if (state == kHolesUnknown) {
    state = S_ISREG(st.st_mode) ? kHolesFiemap : kHolesNone;
    holes_.store(state, std::memory_order_relaxed);
    if (state == kHolesNone) return {};
  }
  if (offset >= static_cast<uint64_t>(st.st_size)) {
    return {};  // past the end: left to the reads
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (state == kHolesFiemap) {
    Stretch s;
    if (FiemapStretch(fd_, offset, size, &s)) return s;
    state = kHolesSeek;
    holes_.store(state, std::memory_order_relaxed);
  }
  // SEEK_HOLE counts pages in the page cache as data, also zeros read from
  // an unwritten extent; so it finds fewer holes, never a wrong one.  lseek
  // moves the descriptor's position, which nothing here uses: every read
  // and write is positioned.
  const off_t at = static_cast<off_t>(offset);
  const off_t hole = ::lseek(fd_, at, SEEK_HOLE);
  if (hole < 0) {
    if (errno != ENXIO) holes_.store(kHolesNone, std::memory_order_relaxed);
    return {};
  }
  if (hole > at) return {false, static_cast<uint64_t>(hole)};
  const off_t data = ::lseek(fd_, at, SEEK_DATA);
  if (data > at) return {true, static_cast<uint64_t>(data)};
  if (data < 0 && errno == ENXIO) return {true, size};  // a hole to the end
  return {};  // the file changed under us: data, read it
}

Status PosixFile::WriteAt(uint64_t offset, const void* buf, size_t len) {
  const auto* p = static_cast<const uint8_t*>(buf);
  if (direct_fd_ >= 0 && len >= kDirectWriteMin && Aligned(offset) &&
      Aligned(len) && Aligned(reinterpret_cast<uintptr_t>(p))) {
    int err = WriteAll(direct_fd_, &offset, &p, &len);
    if (err == 0) return Status::OK();
    if (err != EINVAL) {
      return Status::FromErrno(name(),
                               "write at offset " + std::to_string(offset),
                               err);
    }
    // The file system takes O_DIRECT opens but not these writes: go on
    // buffered from where the direct writes stopped.
    ::close(direct_fd_);
    direct_fd_ = -1;
  }
  const uint64_t start = offset;
  const size_t total = len;
  int err = WriteAll(fd_, &offset, &p, &len, kCachedWriteMax);
  if (err == 0) {
    if (early_writeback_ && total >= kDirectWriteMin &&
        ::sync_file_range(fd_, static_cast<off_t>(start),
                          static_cast<off_t>(total),
                          SYNC_FILE_RANGE_WRITE) != 0) {
      early_writeback_ = false;
    }
    return Status::OK();
  }
  return Status::FromErrno(name(), "write at offset " + std::to_string(offset),
                           err);
}

int PosixFile::WriteAll(int fd, uint64_t* offset, const uint8_t** p,
                        size_t* len, size_t max_call) {
  while (*len > 0) {
    ssize_t n = ::pwrite(fd, *p, std::min(*len, max_call),
                         static_cast<off_t>(*offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return ENOSPC;
    *p += n;
    *offset += static_cast<uint64_t>(n);
    *len -= static_cast<size_t>(n);
  }
  return 0;
}

Status PosixFile::Sync() {
  if (::fsync(fd_) != 0) return Status::FromErrno(name(), "fsync", errno);
  return Status::OK();
}

Result<uint64_t> PosixFile::Size() {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return Status::FromErrno(name(), "stat", errno);
  if (S_ISBLK(st.st_mode)) {
    off_t end = ::lseek(fd_, 0, SEEK_END);
    if (end < 0) return Status::FromErrno(name(), "seek", errno);
    return static_cast<uint64_t>(end);
  }
  return static_cast<uint64_t>(st.st_size);
}

Status PosixFile::Truncate(uint64_t size) {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return Status::FromErrno(name(), "stat", errno);
  if (!S_ISREG(st.st_mode)) return Status::OK();  // devices keep their size
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    return Status::FromErrno(name(), "set length", errno);
  }
  return Status::OK();
}

Status PosixFile::ZeroRange(uint64_t offset, uint64_t len) {
  if (len == 0) return Status::OK();
  struct stat st;
  if (::fstat(fd_, &st) != 0) return Status::FromErrno(name(), "stat", errno);
  int err = 0;
  if (S_ISREG(st.st_mode)) {
    if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    static_cast<off_t>(offset), static_cast<off_t>(len)) == 0) {
      return Status::OK();
    }
    err = errno;
  } else if (S_ISBLK(st.st_mode)) {
    uint64_t range[2] = {offset, len};
    if (::ioctl(fd_, BLKZEROOUT, range) == 0) return Status::OK();
    err = errno;
  } else {
    err = EOPNOTSUPP;
  }
  if (err != EOPNOTSUPP && err != ENOTTY && err != EINVAL) {
    return Status::FromErrno(
        name(),
        "zero " + std::to_string(len) + " bytes at " + std::to_string(offset),
        err);
  }
  return File::ZeroRange(offset, len);
}

bool PosixFile::Reserve(uint64_t offset, uint64_t len) {
  if (len == 0) return true;
  struct stat st;
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  // FALLOC_FL_KEEP_SIZE: the length stays what the writes make it, and
  // ftruncate (even to the same length) frees the blocks past the end.
  return ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                     static_cast<off_t>(len)) == 0;
}

Result<size_t> StreamFile::ReadSome(uint64_t, void*, size_t) {
  return Status::NotSupported(name() + ": read: not possible on a stream");
}

Status StreamFile::WriteZeros(uint64_t count) {
  static const std::vector<uint8_t> zeros(1 << 20);
  while (count > 0) {
    size_t n = std::min<uint64_t>(count, zeros.size());
    E2Q_RETURN_IF_ERROR(WriteAll(zeros.data(), n));
    count -= n;
  }
  return Status::OK();
}

Status StreamFile::WriteAll(const void* buf, size_t len) {
  const auto* p = static_cast<const uint8_t*>(buf);
  while (len > 0) {
    ssize_t n = ::write(fd_, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(name(), "write", errno);
    }
    p += n;
    len -= static_cast<size_t>(n);
    pos_ += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

Status StreamFile::WriteAt(uint64_t offset, const void* buf, size_t len) {
  if (offset < pos_) {
    return Status::InvalidArgument(name() +
                                   ": write: a stream cannot seek backwards");
  }
  E2Q_RETURN_IF_ERROR(WriteZeros(offset - pos_));
  return WriteAll(buf, len);
}

Status StreamFile::Truncate(uint64_t size) {
  if (size < pos_) {
    return Status::InvalidArgument(name() + ": truncate: stream too long");
  }
  return WriteZeros(size - pos_);
}

namespace {

// Regular files get qemu's image locks for `intent` (lib/io/image_lock.h).
Result<std::unique_ptr<File>> OpenWithFlags(const std::string& path, int flags,
                                            LockIntent intent) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Status::FromErrno(path, "open", errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::FromErrno(path, "stat", err);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Status::FromErrno(path, "open", EISDIR);
  }
  if (S_ISREG(st.st_mode)) {
    Status locked = LockImage(fd, path, intent);
    if (!locked.ok()) {
      ::close(fd);
      return locked;
    }
  }
  return std::unique_ptr<File>(new PosixFile(path, fd, /*owns_fd=*/true));
}

}  // namespace

Result<std::unique_ptr<File>> OpenFileForRead(const std::string& path) {
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                       OpenWithFlags(path, O_RDONLY, LockIntent::kRead));
  return Interpose(std::move(f), FileRole::kInput);
}

Result<std::unique_ptr<File>> OpenFileForUpdate(const std::string& path,
                                                bool exclusive) {
  struct stat st;
  bool is_blk = ::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
  E2Q_ASSIGN_OR_RETURN(
      std::unique_ptr<File> f,
      OpenWithFlags(path, O_RDWR | (exclusive && is_blk ? O_EXCL : 0),
                    LockIntent::kWrite));
  return Interpose(std::move(f), FileRole::kUpdate);
}

}  // namespace e2q::io
