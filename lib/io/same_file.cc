// IdentifyPath / SharedStorage: stat() identities, loop devices through
// LOOP_GET_STATUS64 and sysfs, partitions through sysfs.
#include "lib/io/same_file.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace e2q::io {

namespace {

using Role = StorageKey::Role;
using Kind = StorageKey::Kind;

// A loop device over a loop device over ... ends somewhere.
constexpr int kMaxDepth = 8;

bool IsContainer(Role r) {
  return r == Role::kContainer || r == Role::kContainerBacking;
}
Role BackingRole(Role r) {
  return IsContainer(r) ? Role::kContainerBacking : Role::kLoopBacking;
}

std::string SysBlockDir(dev_t rdev) {
  return "/sys/dev/block/" + std::to_string(major(rdev)) + ":" +
         std::to_string(minor(rdev));
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string ReadLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

void AddKeys(const struct stat& st, Role role, int fd, int depth,
             std::vector<StorageKey>* keys);

// The file or device behind loop device `rdev`, if it is a bound loop
// device.  `fd` (or -1) is open on the device itself.
void AddLoopBacking(dev_t rdev, Role role, int fd, int depth,
                    std::vector<StorageKey>* keys) {
  const std::string loop_dir = SysBlockDir(rdev) + "/loop";
  if (!Exists(loop_dir)) return;
  bool have_inode = false;
  if (fd >= 0) {
    struct loop_info64 info {};
    if (::ioctl(fd, LOOP_GET_STATUS64, &info) == 0) {
      keys->push_back(
          {Kind::kInode, info.lo_device, info.lo_inode, BackingRole(role)});
      have_inode = true;
    }
  }
  // The backing file's path; also the only way to learn that it is a
  // block device itself (the ioctl gives its inode on /dev, not its
  // device number).
  std::string backing = ReadLine(loop_dir + "/backing_file");
  struct stat st;
  if (backing.empty() || ::stat(backing.c_str(), &st) != 0) return;
  if (S_ISBLK(st.st_mode)) {
    AddKeys(st, BackingRole(role), -1, depth + 1, keys);
  } else if (!have_inode) {
    keys->push_back({Kind::kInode, static_cast<uint64_t>(st.st_dev),
                     static_cast<uint64_t>(st.st_ino), BackingRole(role)});
  }
}

// The disk that holds partition `rdev`, if it is one.
void AddContainer(dev_t rdev, int depth, std::vector<StorageKey>* keys) {
  const std::string dir = SysBlockDir(rdev);
  if (!Exists(dir + "/partition")) return;
  char* real = ::realpath(dir.c_str(), nullptr);
  if (real == nullptr) return;
  std::string parent(real);
  std::free(real);
  parent = parent.substr(0, parent.rfind('/'));
  unsigned maj = 0, min = 0;
  if (std::sscanf(ReadLine(parent + "/dev").c_str(), "%u:%u", &maj, &min) !=
      2) {
    return;
  }
  const dev_t disk = makedev(maj, min);
  keys->push_back(
      {Kind::kBlockDevice, static_cast<uint64_t>(disk), 0, Role::kContainer});
  AddLoopBacking(disk, Role::kContainer, -1, depth + 1, keys);
}

void AddKeys(const struct stat& st, Role role, int fd, int depth,
             std::vector<StorageKey>* keys) {
  if (!S_ISBLK(st.st_mode)) {
    keys->push_back({Kind::kInode, static_cast<uint64_t>(st.st_dev),
                     static_cast<uint64_t>(st.st_ino), role});
    return;
  }
  keys->push_back(
      {Kind::kBlockDevice, static_cast<uint64_t>(st.st_rdev), 0, role});
  if (depth >= kMaxDepth) return;
  AddLoopBacking(st.st_rdev, role, fd, depth, keys);
  if (!IsContainer(role)) AddContainer(st.st_rdev, depth, keys);
}

std::string Describe(const StorageKey& a, const StorageKey& b,
                     const std::string& b_name) {
  if (a.role == Role::kContainerBacking) {
    return "a partition of a loop device backed by " + b_name;
  }
  if (b.role == Role::kContainerBacking) {
    return "the backing file of the loop device that holds partition " + b_name;
  }
  if (a.role == Role::kContainer) return "a partition of " + b_name;
  if (b.role == Role::kContainer) {
    return "the disk that holds partition " + b_name;
  }
  if (a.role == Role::kSelf && b.role == Role::kSelf) {
    return a.kind == Kind::kInode ? "the same file as " + b_name
                                  : "the same block device as " + b_name;
  }
  if (a.role == Role::kSelf) return "the backing file of loop device " + b_name;
  if (b.role == Role::kSelf) return "a loop device backed by " + b_name;
  return "a loop device over the same file as loop device " + b_name;
}

}  // namespace

Result<std::optional<Storage>> IdentifyPath(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<Storage>();
    return Status::FromErrno(path, "stat", errno);
  }
  Storage s;
  s.name = path;
  int fd = -1;
  if (S_ISBLK(st.st_mode)) {
    fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  }
  AddKeys(st, Role::kSelf, fd, 0, &s.keys);
  if (fd >= 0) ::close(fd);
  return std::optional<Storage>(std::move(s));
}

Result<Storage> IdentifyFd(int fd, const std::string& name) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno(name, "stat", errno);
  Storage s;
  s.name = name;
  AddKeys(st, Role::kSelf, fd, 0, &s.keys);
  return s;
}

std::optional<std::string> SharedStorage(const Storage& a, const Storage& b) {
  for (const StorageKey& ka : a.keys) {
    for (const StorageKey& kb : b.keys) {
      if (ka.kind != kb.kind || ka.dev != kb.dev || ka.ino != kb.ino) continue;
      // Two partitions of one disk share the disk, not their bytes.
      if (IsContainer(ka.role) && IsContainer(kb.role)) continue;
      return Describe(ka, kb, b.name);
    }
  }
  return std::nullopt;
}

}  // namespace e2q::io
