// Inline data and fast symlinks: edits of the raw inode.
#include "lib/scramble/scramble_inline.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "lib/base/endian.h"
#include "lib/scramble/scramble_dirent.h"
#include "lib/scramble/scramble_names.h"

namespace e2q::scramble {

namespace {

constexpr uint32_t kGoodOldInodeSize = 128;  // i_extra_isize follows
constexpr uint32_t kXattrMagic = 0xEA020000;
constexpr uint32_t kXattrEntryHeader = 16;  // struct ext2_ext_attr_entry
constexpr uint8_t kXattrIndexSystem = 7;
constexpr uint32_t kInlineParentSize = 4;  // i_block starts with ".."'s inode

// Where the value of "system.data" is in a raw inode.
struct InlineValue {
  uint32_t entry;  // offset of the attribute entry
  uint32_t value;  // offset of the value
  uint32_t size;
};

// Finds "system.data" among the in-inode attributes.  Every offset is
// checked against the inode size; a malformed area gives nullopt.
std::optional<InlineValue> FindSystemData(const std::vector<uint8_t>& raw) {
  const uint64_t size = raw.size();
  if (size <= kGoodOldInodeSize + 2) return std::nullopt;
  const uint64_t start = kGoodOldInodeSize + LoadLE16(&raw[kGoodOldInodeSize]);
  if (start % 4 != 0 || start + 4 > size) return std::nullopt;
  if (LoadLE32(&raw[start]) != kXattrMagic) return std::nullopt;
  const uint64_t first = start + 4;  // value offsets count from here
  for (uint64_t off = first; off + 4 <= size && LoadLE32(&raw[off]) != 0;) {
    if (off + kXattrEntryHeader > size) return std::nullopt;
    const uint8_t name_len = raw[off];
    const uint64_t entry_size = (kXattrEntryHeader + name_len + 3) & ~3ULL;
    if (off + entry_size > size) return std::nullopt;
    if (raw[off + 1] == kXattrIndexSystem && name_len == 4 &&
        std::memcmp(&raw[off + kXattrEntryHeader], "data", 4) == 0) {
      const uint64_t value = first + LoadLE16(&raw[off + 2]);
      const uint64_t vsize = LoadLE32(&raw[off + 8]);
      if (LoadLE32(&raw[off + 4]) != 0 ||
          value + ((vsize + 3) & ~3ULL) > size) {
        return std::nullopt;
      }
      return InlineValue{static_cast<uint32_t>(off),
                         static_cast<uint32_t>(value),
                         static_cast<uint32_t>(vsize)};
    }
    off += entry_size;
  }
  return std::nullopt;
}

// Recomputes the attribute's e_hash after its value changed, with the same
// variant (unsigned or signed char) that produced the stored one; a zero or
// already wrong hash is left as it was.
void Rehash(const std::vector<uint8_t>& before, std::vector<uint8_t>* after,
            const InlineValue& v) {
  const uint32_t stored = LoadLE32(&before[v.entry + 12]);
  if (stored == 0) return;
  auto entry = [&](std::vector<uint8_t>& raw) {
    return reinterpret_cast<ext2_ext_attr_entry*>(&raw[v.entry]);
  };
  std::vector<uint8_t> old = before;
  bool is_unsigned =
      ext2fs_ext_attr_hash_entry(entry(old), &old[v.value]) == stored;
  bool is_signed = !is_unsigned && ext2fs_ext_attr_hash_entry_signed(
                                       entry(old), &old[v.value]) == stored;
  if (!is_unsigned && !is_signed) return;
  uint32_t hash =
      is_signed
          ? ext2fs_ext_attr_hash_entry_signed(entry(*after), &(*after)[v.value])
          : ext2fs_ext_attr_hash_entry(entry(*after), &(*after)[v.value]);
  StoreLE32(&(*after)[v.entry + 12], hash);
}

struct Region {
  uint32_t offset;
  uint32_t size;
  std::vector<DirentRef> records;
};

}  // namespace

Status ScrambleInlineDirectory(const ScrambleContext& ctx, ext2_ino_t ino,
                               const ext2_inode_large& inode) {
  const std::string what = "directory " + std::to_string(ino);
  E2Q_ASSIGN_OR_RETURN(std::vector<uint8_t> raw, ctx.inodes->Read(ino));
  const std::vector<uint8_t> before = raw;
  std::vector<Region> regions;
  regions.push_back(Region{kInodeBlockOffset + kInlineParentSize,
                           kInodeBlockSize - kInlineParentSize,
                           {}});
  std::optional<InlineValue> value = FindSystemData(raw);
  if (value && value->size > 0) {
    regions.push_back(Region{value->value, value->size, {}});
  }
  if (!value && EXT2_I_SIZE(&inode) > kInodeBlockSize) {
    ctx.warnings->push_back(what +
                            ": inline data attribute not found: its "
                            "names past i_block are not scrambled");
  }
  const bool casefold = (inode.i_flags & EXT4_CASEFOLD_FL) != 0;
  NameGenerator gen(casefold, ino);
  if (ino == EXT2_ROOT_INO) gen.Reserve("lost+found");
  for (Region& r : regions) {
    if (!ParseDirents(&raw[r.offset], r.size, &r.records)) {
      ctx.warnings->push_back(what +
                              ": bad inline record: the rest of it is "
                              "not scrambled");
    }
    for (const DirentRef& d : r.records) {
      if (d.inode != 0) {
        gen.AddOriginal(std::string_view(
            reinterpret_cast<const char*>(&raw[r.offset + d.offset + 8]),
            d.name_len));
      }
    }
  }
  for (const Region& r : regions) {
    for (const DirentRef& d : r.records) {
      uint8_t* p = &raw[r.offset + d.offset];
      std::string_view name(reinterpret_cast<const char*>(p + 8), d.name_len);
      const bool keep = d.inode == 0 || d.name_len == 0 || name == "." ||
                        name == ".." ||
                        (ino == EXT2_ROOT_INO && name == "lost+found");
      if (!keep) {
        E2Q_ASSIGN_OR_RETURN(std::string fresh, gen.Next(d.name_len));
        std::memcpy(p + 8, fresh.data(), fresh.size());
        ++ctx.stats->names;
      }
      uint32_t used = d.inode != 0 ? 8 + d.name_len : 8;
      std::memset(p + used, 0, d.rec_len - used);
    }
  }
  if (value) Rehash(before, &raw, *value);
  ++ctx.stats->directories;
  ++ctx.stats->inline_directories;
  if (raw == before) return Status::OK();
  return ctx.inodes->Write(ino, std::move(raw));
}

Status ScrambleInodeSymlink(const ScrambleContext& ctx, ext2_ino_t ino,
                            const ext2_inode_large& inode, bool* handled) {
  const bool is_inline = (inode.i_flags & EXT4_INLINE_DATA_FL) != 0;
  auto* small =
      reinterpret_cast<ext2_inode*>(const_cast<ext2_inode_large*>(&inode));
  const bool fast =
      ext2fs_is_fast_symlink(small) && (inode.i_flags & EXT4_EXTENTS_FL) == 0;
  *handled = is_inline || fast;
  if (!*handled) return Status::OK();
  const uint64_t size = EXT2_I_SIZE(&inode);
  if (size == 0) return Status::OK();
  E2Q_ASSIGN_OR_RETURN(std::vector<uint8_t> raw, ctx.inodes->Read(ino));
  const std::vector<uint8_t> before = raw;
  std::optional<InlineValue> value;
  if (is_inline) value = FindSystemData(raw);
  const uint64_t outside = size > kInodeBlockSize ? size - kInodeBlockSize : 0;
  if (outside > 0 && (!value || value->size < outside)) {
    ctx.warnings->push_back("symlink " + std::to_string(ino) +
                            ": inline target past i_block not found: "
                            "not scrambled");
    ++ctx.stats->skipped_other;
    return Status::OK();
  }
  const std::string target = ScrambledSymlinkTarget(ino, size);
  const uint64_t head = std::min<uint64_t>(size, kInodeBlockSize);
  std::memcpy(&raw[kInodeBlockOffset], target.data(), head);
  // Bytes after a short target are zero in a sound inode; zeroing keeps
  // them so and removes leftovers of an older, longer target.
  std::memset(&raw[kInodeBlockOffset + head], 0, kInodeBlockSize - head);
  if (outside > 0) {
    std::memcpy(&raw[value->value], target.data() + head, outside);
    Rehash(before, &raw, *value);
  }
  ++ctx.stats->fast_symlinks;
  return ctx.inodes->Write(ino, std::move(raw));
}

}  // namespace e2q::scramble
