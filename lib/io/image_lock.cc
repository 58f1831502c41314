// The lock bytes and permission bits are qemu's (block/file-posix.c,
// include/block/block-common.h): BLK_PERM_CONSISTENT_READ is bit 0, WRITE
// bit 1, WRITE_UNCHANGED bit 2, RESIZE bit 3.
#include "lib/io/image_lock.h"

#include <fcntl.h>

#include <atomic>
#include <cerrno>

namespace e2q::io {

namespace {

constexpr int kPermBase = 100;    // held permission i: byte 100 + i
constexpr int kSharedBase = 200;  // unshared permission i: byte 200 + i
constexpr int kPermBits = 4;

constexpr unsigned kConsistentRead = 1u << 0;
constexpr unsigned kWrite = 1u << 1;
constexpr unsigned kResize = 1u << 3;

const char* PermName(int bit) {
  switch (bit) {
    case 0:
      return "consistent read";
    case 1:
      return "write";
    case 2:
      return "write unchanged";
    default:
      return "resize";
  }
}

std::atomic<bool> g_force_share{false};

struct flock OneByte(short type, int byte) {
  struct flock fl = {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  return fl;
}

// 0: locked; else an errno (EINVAL and friends: no OFD locks here).
int Take(int fd, int byte) {
  struct flock fl = OneByte(F_RDLCK, byte);
  return ::fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 0 : errno;
}

void Drop(int fd, int byte) {
  struct flock fl = OneByte(F_UNLCK, byte);
  (void)::fcntl(fd, F_OFD_SETLK, &fl);
}

// True when another open file description holds a lock on `byte`.
bool Held(int fd, int byte) {
  struct flock fl = OneByte(F_WRLCK, byte);
  if (::fcntl(fd, F_OFD_GETLK, &fl) != 0) return false;
  return fl.l_type != F_UNLCK;
}

}  // namespace

void SetForceShare(bool force_share) { g_force_share = force_share; }
bool ForceShare() { return g_force_share; }

Status LockImage(int fd, const std::string& name, LockIntent intent) {
  if (intent == LockIntent::kRead && ForceShare()) return Status::OK();
  const unsigned perm = intent == LockIntent::kRead
                            ? kConsistentRead
                            : kConsistentRead | kWrite | kResize;
  const unsigned unshared = kWrite | kResize;
  auto drop_all = [&] {
    for (int i = 0; i < kPermBits; ++i) {
      if (perm & (1u << i)) Drop(fd, kPermBase + i);
      if (unshared & (1u << i)) Drop(fd, kSharedBase + i);
    }
  };
  for (int i = 0; i < kPermBits; ++i) {
    for (int byte : {perm & (1u << i) ? kPermBase + i : -1,
                     unshared & (1u << i) ? kSharedBase + i : -1}) {
      if (byte < 0) continue;
      const int err = Take(fd, byte);
      if (err == 0) continue;
      drop_all();
      // No OFD locks on this file system (or for this kind of file): qemu
      // then opens without locking too.
      if (err == EINVAL || err == ENOLCK || err == EOPNOTSUPP) {
        return Status::OK();
      }
      if (err == EAGAIN || err == EACCES) break;  // checked below
      return Status::FromErrno(name, "lock", err);
    }
  }
  for (int i = 0; i < kPermBits; ++i) {
    const char* what = nullptr;
    if ((perm & (1u << i)) && Held(fd, kSharedBase + i)) {
      what = "Failed to get \"";
    } else if ((unshared & (1u << i)) && Held(fd, kPermBase + i)) {
      what = "Failed to get shared \"";
    }
    if (what == nullptr) continue;
    drop_all();
    return Status::IOError(
        name + ": " + what + PermName(i) +
        "\" lock: another process (qemu?) is using the image" +
        (intent == LockIntent::kRead
             ? "; --force-share reads it anyway, as qemu-img -U does"
             : ""));
  }
  return Status::OK();
}

}  // namespace e2q::io
