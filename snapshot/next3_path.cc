// FindPaths: breadth-first over directories with ext2fs_dir_iterate2.
#include "snapshot/next3_path.h"

#include <deque>
#include <set>
#include <unordered_set>

#include "snapshot/next3_format.h"

namespace e2q::snapshot {

namespace {

struct Search {
  ext2_filsys fs;
  std::unordered_set<uint32_t> wanted;
  std::map<uint32_t, std::string> found;
  std::deque<std::pair<uint32_t, std::string>> queue;
  std::set<uint32_t> queued;
  const std::string* dir_path = nullptr;
  bool at_root = false;
};

bool IsDirectory(ext2_filsys fs, const struct ext2_dir_entry* d) {
  const int type = ext2fs_dirent_file_type(d);
  if (ext2fs_has_feature_filetype(fs->super)) return type == EXT2_FT_DIR;
  return ext2fs_check_directory(fs, d->inode) == 0;
}

int VisitEntry(ext2_ino_t, int, struct ext2_dir_entry* d, int, int, char*,
               void* priv) {
  auto* s = static_cast<Search*>(priv);
  const uint32_t ino = d->inode;
  if (ino == 0 || ino > s->fs->super->s_inodes_count) return 0;
  const std::string name(d->name, ext2fs_dirent_name_len(d));
  if (name == "." || name == "..") return 0;
  const std::string path =
      (*s->dir_path == "/" ? std::string() : *s->dir_path) + "/" + name;
  if (s->wanted.count(ino) != 0 && s->found.count(ino) == 0) {
    s->found.emplace(ino, path);
    if (s->found.size() == s->wanted.size()) return DIRENT_ABORT;
  }
  if (ino != kRootIno && s->queued.count(ino) == 0 && IsDirectory(s->fs, d)) {
    s->queued.insert(ino);
    // Snapshot files normally live in /.snapshots: look there first.
    if (s->at_root && name == ".snapshots") {
      s->queue.emplace_front(ino, path);
    } else {
      s->queue.emplace_back(ino, path);
    }
  }
  return 0;
}

}  // namespace

std::map<uint32_t, std::string> FindPaths(const ext4::Filesystem& fs,
                                          const std::vector<uint32_t>& inodes,
                                          std::vector<std::string>* warnings) {
  Search s;
  s.fs = fs.raw();
  s.wanted.insert(inodes.begin(), inodes.end());
  if (s.wanted.empty()) return {};
  s.queue.emplace_back(kRootIno, "/");
  s.queued.insert(kRootIno);
  while (!s.queue.empty() && s.found.size() < s.wanted.size()) {
    auto [dir, path] = std::move(s.queue.front());
    s.queue.pop_front();
    s.dir_path = &path;
    s.at_root = dir == kRootIno;
    // Errors (a damaged or unreadable directory) only mean fewer names.
    errcode_t err = ext2fs_dir_iterate2(s.fs, dir, 0, nullptr, VisitEntry, &s);
    if (err != 0 && warnings != nullptr) {
      warnings->push_back(
          "snapshot names: " +
          ext4::FromErrcode("directory " + path, "read", err).message());
    }
  }
  return std::move(s.found);
}

}  // namespace e2q::snapshot
