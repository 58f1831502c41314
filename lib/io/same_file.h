// Storage identity: which bytes on the machine a path names, so that a
// program can refuse to write over one of its own inputs.  Two names are
// compared by what stat() says (device and inode), so symlinks, hard links
// and /dev/fd/N are seen through; block devices by their device number,
// and a loop device also as the file (or device) behind it
// (LOOP_GET_STATUS64, else /sys/dev/block/M:m/loop/backing_file), and a
// partition also as part of the disk that holds it.
#ifndef E2Q_LIB_IO_SAME_FILE_H_
#define E2Q_LIB_IO_SAME_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/base/status.h"

namespace e2q::io {

// One thing a name may stand for.
struct StorageKey {
  enum class Kind { kInode, kBlockDevice };
  // How the named object relates to the thing the key identifies.
  enum class Role {
    kSelf,              // the object itself
    kLoopBacking,       // the file or device behind the object's loop device
    kContainer,         // the disk that holds the object (a partition)
    kContainerBacking,  // the file behind that disk's loop device
  };
  Kind kind = Kind::kInode;
  uint64_t dev = 0;  // st_dev (inodes) or st_rdev (block devices)
  uint64_t ino = 0;  // st_ino (inodes); 0 for block devices
  Role role = Role::kSelf;
};

struct Storage {
  std::string name;  // as given, for messages
  std::vector<StorageKey> keys;
};

// The storage behind `path` (symlinks followed), or nullopt when nothing
// exists there.  Other stat() failures are errors.  Loop and partition
// relations are found where the system tells them; when it does not, only
// the object itself is known.
Result<std::optional<Storage>> IdentifyPath(const std::string& path);
// The same for an open descriptor (standard input or output).
Result<Storage> IdentifyFd(int fd, const std::string& name);

// How writing `a` would write `b` (or the other way round), as a phrase
// completing "A is ...", e.g. "the same file as B", "a loop device backed
// by B"; nullopt when they share no bytes.
std::optional<std::string> SharedStorage(const Storage& a, const Storage& b);

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_SAME_FILE_H_
