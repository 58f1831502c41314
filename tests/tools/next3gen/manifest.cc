// Manifest writer (see manifest.h).
#include "tests/tools/next3gen/manifest.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <utility>
#include <vector>

#include "tests/tools/next3gen/blockmap.h"
#include "tests/tools/next3gen/gen.h"
#include "tests/tools/next3gen/sha256.h"

namespace n3g {
namespace {

struct Entry {
  std::string name;
  uint32_t ino;
};

int Collect(ext2_ino_t, int, ext2_dir_entry* de, int, int, char*, void* priv) {
  auto* out = static_cast<std::vector<Entry>*>(priv);
  int len = ext2fs_dirent_name_len(de);
  std::string name(de->name, size_t(len));
  if (name != "." && name != "..") out->push_back({name, de->inode});
  return 0;
}

std::string Digest(Gen& gen, const ext2_inode& in, bool empty) {
  Sha256 sha;
  uint64_t size = empty ? 0 : EXT2_I_SIZE(&in);
  std::string head = "size " + std::to_string(size) + "\n";
  sha.Update(head.data(), head.size());
  if (empty) return sha.HexDigest();
  std::vector<std::pair<uint64_t, uint64_t>> map;
  ReadFn read = [&gen](uint64_t b, void* buf) { gen.ReadRaw(b, buf); };
  MapWalk(
      read, in,
      [&map](uint64_t l, uint64_t p) {
        map.push_back({l, p});
      },
      [](uint64_t) {});
  size_t i = 0;
  Block buf;
  while (i < map.size()) {
    size_t j = i + 1;
    while (j < map.size() && map[j].first == map[j - 1].first + 1) j++;
    std::string run =
        std::to_string(map[i].first) + " " + std::to_string(j - i) + "\n";
    sha.Update(run.data(), run.size());
    for (size_t k = i; k < j; k++) {
      gen.ReadRaw(map[k].second, buf.data());
      sha.Update(buf.data(), kBlockSize);
    }
    i = j;
  }
  return sha.HexDigest();
}

std::string LinkTarget(Gen& gen, const ext2_inode& in) {
  uint64_t size = EXT2_I_SIZE(&in);
  if (size >= kBlockSize) Die("manifest: symlink target too long");
  if (in.i_blocks == 0)
    return std::string(reinterpret_cast<const char*>(in.i_block), size);
  Block buf;
  gen.ReadRaw(in.i_block[0], buf.data());
  return std::string(reinterpret_cast<const char*>(buf.data()), size);
}

bool OnList(const Gen& gen, uint32_t ino) {
  for (const Snap& s : gen.snaps)
    if (s.ino == ino && s.state != "removed") return true;
  return false;
}

void Walk(Gen& gen, uint32_t dir, const std::string& path, bool snapshot_view,
          std::vector<std::pair<std::string, std::string>>& lines) {
  std::vector<Entry> entries;
  Check(ext2fs_dir_iterate2(gen.fs, dir, 0, nullptr, Collect, &entries),
        "iterate " + path);
  for (auto& e : entries) {
    std::string p = (path == "/" ? "" : path) + "/" + e.name;
    ext2_inode in{};
    Check(ext2fs_read_inode(gen.fs, e.ino, &in), "read inode of " + p);
    if (LINUX_S_ISDIR(in.i_mode)) {
      lines.push_back({p, "d " + p});
      Walk(gen, e.ino, p, snapshot_view, lines);
    } else if (LINUX_S_ISLNK(in.i_mode)) {
      lines.push_back({p, "l " + LinkTarget(gen, in) + " " + p});
    } else if (LINUX_S_ISREG(in.i_mode)) {
      // Snapshot files: left out of the live view; in a snapshot's view the
      // listed ones are the empty files that the take left (flags cleared),
      // and a removed one (off the list, not fixed at take) keeps SNAPFILE,
      // so it is left out as in the live view.
      bool snapfile = (in.i_flags & kSnapFileFl) != 0;
      if (snapfile && (!snapshot_view || !OnList(gen, e.ino))) continue;
      lines.push_back({p, "f " + Digest(gen, in, snapfile) + " " + p});
    } else {
      Die("manifest: unexpected file type at " + p);
    }
  }
}

}  // namespace

void WriteManifest(Gen& gen, const std::string& path, bool snapshot_view) {
  std::vector<std::pair<std::string, std::string>> lines;
  lines.push_back({"/", "d /"});
  Walk(gen, EXT2_ROOT_INO, "/", snapshot_view, lines);
  std::sort(lines.begin(), lines.end());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (auto& l : lines) out << l.second << "\n";
  if (!out) Die(path + ": write failed");
}

}  // namespace n3g
