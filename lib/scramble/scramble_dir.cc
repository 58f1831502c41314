// ScrambleDirectory: read the directory, choose new names, then either
// rebuild the htree or rewrite each block in place.
#include "lib/scramble/scramble_dir.h"

#include <cstring>
#include <map>
#include <string_view>
#include <utility>

#include "lib/base/endian.h"
#include "lib/scramble/scramble_dirent.h"
#include "lib/scramble/scramble_htree.h"
#include "lib/scramble/scramble_inline.h"
#include "lib/scramble/scramble_names.h"

namespace e2q::scramble {

namespace {

struct DirBlock {
  uint64_t logical;
  uint64_t physical;
  std::vector<uint8_t> data;
  std::vector<DirentRef> records;
  bool complete;                       // every record parsed
  std::vector<std::string> new_names;  // per record; empty = unchanged
};

std::string What(ext2_ino_t ino) { return "directory " + std::to_string(ino); }

int CollectBlock(ext2_filsys, blk64_t* blocknr, e2_blkcnt_t blockcnt, blk64_t,
                 int, void* priv) {
  if (blockcnt >= 0) {
    auto* map = static_cast<std::map<uint64_t, uint64_t>*>(priv);
    map->emplace(static_cast<uint64_t>(blockcnt), *blocknr);
  }
  return 0;
}

std::string_view NameOf(const DirBlock& b, const DirentRef& r) {
  return std::string_view(
      reinterpret_cast<const char*>(b.data.data() + r.offset + 8), r.name_len);
}

bool IsDots(std::string_view name) { return name == "." || name == ".."; }

// Reads and parses every mapped block of the directory.
Status ReadBlocks(const ScrambleContext& ctx, ext2_ino_t ino,
                  std::vector<DirBlock>* out) {
  ext2_filsys fs = ctx.fs;
  std::map<uint64_t, uint64_t> map;
  errcode_t err = ext2fs_block_iterate3(
      fs, ino, BLOCK_FLAG_READ_ONLY | BLOCK_FLAG_DATA_ONLY, nullptr,
      CollectBlock, &map);
  if (err != 0) {
    ctx.warnings->push_back(What(ino) + ": block map unreadable (" +
                            error_message(err) + "): not scrambled");
    return Status::OK();
  }
  const uint64_t nblocks = ext2fs_blocks_count(fs->super);
  for (const auto& [logical, physical] : map) {
    if (physical < fs->super->s_first_data_block || physical >= nblocks) {
      ctx.warnings->push_back(What(ino) + ": block " + std::to_string(logical) +
                              " lies outside the filesystem: not scrambled");
      continue;
    }
    if (ctx.patches->Has(physical)) {
      ctx.warnings->push_back(What(ino) + ": block " +
                              std::to_string(physical) +
                              " is shared with another directory: "
                              "scrambled once");
      continue;
    }
    DirBlock b;
    b.logical = logical;
    b.physical = physical;
    b.data.resize(fs->blocksize);
    err = io_channel_read_blk64(fs->io, physical, 1, b.data.data());
    if (err != 0) {
      ctx.warnings->push_back(What(ino) + ": block " +
                              std::to_string(physical) + " unreadable (" +
                              error_message(err) + "): not scrambled");
      continue;
    }
    b.complete = ParseDirents(b.data.data(), fs->blocksize, &b.records);
    if (!b.complete) {
      ctx.warnings->push_back(What(ino) + ": logical block " +
                              std::to_string(logical) +
                              " has a bad record: the rest of that block is "
                              "not scrambled");
    }
    out->push_back(std::move(b));
  }
  return Status::OK();
}

// Chooses the new name of every live record.
Status ChooseNames(const ScrambleContext& ctx, ext2_ino_t ino, bool casefold,
                   std::vector<DirBlock>* blocks) {
  NameGenerator gen(casefold, ino);
  const bool root = ino == EXT2_ROOT_INO;
  if (root) gen.Reserve("lost+found");
  for (const DirBlock& b : *blocks) {
    for (const DirentRef& r : b.records) {
      if (r.inode != 0) gen.AddOriginal(NameOf(b, r));
    }
  }
  for (DirBlock& b : *blocks) {
    b.new_names.resize(b.records.size());
    for (size_t i = 0; i < b.records.size(); ++i) {
      const DirentRef& r = b.records[i];
      std::string_view name = NameOf(b, r);
      if (r.inode == 0 || r.name_len == 0 || IsDots(name)) continue;
      // e2fsck looks for /lost+found by name; keeping it keeps the image's
      // diagnosis and hides nothing that mke2fs did not put there.
      if (root && name == "lost+found") continue;
      E2Q_ASSIGN_OR_RETURN(b.new_names[i], gen.Next(r.name_len));
      ++ctx.stats->names;
    }
  }
  return Status::OK();
}

void SetChecksum(const ScrambleContext& ctx, ext2_ino_t ino, uint8_t* block) {
  if (!ext2fs_has_feature_metadata_csum(ctx.fs->super)) return;
  // A block without room for its tail or with a bad record cannot carry a
  // valid checksum; it failed e2fsck before and keeps failing the same way.
  (void)ext2fs_dir_block_csum_set(ctx.fs, ino,
                                  reinterpret_cast<ext2_dir_entry*>(block));
}

void Store(const ScrambleContext& ctx, const DirBlock& b,
           std::vector<uint8_t> out) {
  if (out != b.data) ctx.patches->SetBlock(b.physical, std::move(out));
}

// The htree rebuild; kNotSupported (with the reason) when the directory
// does not allow it, and the caller makes it linear.
Status RebuildHtree(const ScrambleContext& ctx, ext2_ino_t ino,
                    const ext2_inode_large& inode,
                    const std::vector<DirBlock>& blocks) {
  ext2_filsys fs = ctx.fs;
  const uint32_t bs = fs->blocksize;
  const uint64_t size_blocks = (EXT2_I_SIZE(&inode) + bs - 1) / bs;
  if (blocks.size() != size_blocks || blocks.size() < 2) {
    return Status::NotSupported(
        "holes, unreadable blocks or a size that "
        "does not match its blocks");
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i].logical != i || !blocks[i].complete) {
      return Status::NotSupported("hole or bad record at logical block " +
                                  std::to_string(i));
    }
  }
  const DirBlock& root = blocks[0];
  const uint8_t* r = root.data.data();
  if (root.records.size() != 2 || root.records[0].rec_len != 12 ||
      root.records[0].name_len != 1 || root.records[1].rec_len != bs - 12 ||
      root.records[1].name_len != 2 || LoadLE32(r + kDxRootInfoOffset) != 0 ||
      r[kDxRootInfoOffset + 5] != 8) {
    return Status::NotSupported("bad dx_root");
  }
  int version = r[kDxRootInfoOffset + 4];
  if (version <= EXT2_HASH_TEA &&
      (fs->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH) != 0) {
    version += EXT2_HASH_LEGACY_UNSIGNED;
  }
  const bool casefold = (inode.i_flags & EXT4_CASEFOLD_FL) != 0;
  std::vector<HashedEntry> entries;
  for (size_t i = 1; i < blocks.size(); ++i) {
    const DirBlock& b = blocks[i];
    for (size_t k = 0; k < b.records.size(); ++k) {
      const DirentRef& rec = b.records[k];
      if (rec.inode == 0) continue;
      HashedEntry e;
      e.entry.inode = rec.inode;
      e.entry.file_type = rec.file_type;
      e.entry.name =
          b.new_names[k].empty() ? std::string(NameOf(b, rec)) : b.new_names[k];
      errcode_t err = ext2fs_dirhash2(
          version, e.entry.name.data(), static_cast<int>(e.entry.name.size()),
          casefold ? fs->encoding : nullptr,
          casefold ? static_cast<int>(inode.i_flags) : 0,
          fs->super->s_hash_seed, &e.hash, &e.minor_hash);
      if (err != 0) {
        return Status::NotSupported(std::string("hash: ") + error_message(err));
      }
      entries.push_back(std::move(e));
    }
  }
  HtreeGeometry g;
  g.block_size = bs;
  g.metadata_csum = ext2fs_has_feature_metadata_csum(fs->super);
  g.max_indirect_levels = ext2fs_has_feature_largedir(fs->super) ? 2 : 1;
  g.blocks = blocks.size();
  E2Q_ASSIGN_OR_RETURN(std::vector<std::vector<uint8_t>> built,
                       BuildHtree(g, r, std::move(entries)));
  for (size_t i = 0; i < blocks.size(); ++i) {
    SetChecksum(ctx, ino, built[i].data());
    Store(ctx, blocks[i], std::move(built[i]));
  }
  return Status::OK();
}

// Rewrites one block in place: new names, unused bytes zeroed.  With
// `linearize`, the dx_root becomes a plain "."/".." block and dx nodes
// become empty blocks.
void RewriteInPlace(const ScrambleContext& ctx, ext2_ino_t ino,
                    const DirBlock& b, bool linearize) {
  const uint32_t bs = ctx.fs->blocksize;
  const bool csum = ext2fs_has_feature_metadata_csum(ctx.fs->super);
  std::vector<uint8_t> out = b.data;
  for (size_t i = 0; i < b.records.size(); ++i) {
    const DirentRef& r = b.records[i];
    uint8_t* p = out.data() + r.offset;
    const bool tail = r.inode == 0 && r.offset + kDirentTailSize == bs &&
                      r.rec_len == kDirentTailSize &&
                      r.file_type == kDirentTailFileType;
    if (tail) continue;  // its checksum is recomputed below
    const std::string& name = b.new_names[i];
    if (!name.empty()) std::memcpy(p + 8, name.data(), name.size());
    // Slack after a live name, and the name of a deleted record, may hold
    // names of removed files.
    uint32_t keep = r.inode != 0 ? 8 + r.name_len : 8;
    std::memset(p + keep, 0, r.rec_len - keep);
  }
  if (linearize && b.logical == 0 && b.records.size() >= 2) {
    const uint32_t usable = LeafCapacity(csum, bs);
    std::vector<uint8_t> root(bs, 0);
    const DirentRef& dot = b.records[0];
    const DirentRef& dotdot = b.records[1];
    WriteDirent(root.data(), dot.inode, 12, ".", dot.file_type, bs);
    WriteDirent(root.data() + 12, dotdot.inode, usable - 12, "..",
                dotdot.file_type, bs);
    if (csum) WriteDirentTail(root.data(), bs);
    out = std::move(root);
  } else if (linearize && b.logical != 0 && b.complete &&
             LooksLikeDxNode(b.data.data(), bs)) {
    BuildLeafBlock({}, 0, 0, csum, bs, out.data());
  }
  SetChecksum(ctx, ino, out.data());
  Store(ctx, b, std::move(out));
}

}  // namespace

Status ScrambleDirectory(const ScrambleContext& ctx, ext2_ino_t ino,
                         const ext2_inode_large& inode) {
  if ((inode.i_flags & EXT4_ENCRYPT_FL) != 0) {
    // The names are ciphertext already; re-encoding them would need the key.
    ++ctx.stats->skipped_encrypted;
    return Status::OK();
  }
  if ((inode.i_flags & EXT4_INLINE_DATA_FL) != 0) {
    return ScrambleInlineDirectory(ctx, ino, inode);
  }
  const bool casefold = (inode.i_flags & EXT4_CASEFOLD_FL) != 0;
  if (casefold && ctx.fs->encoding == nullptr) {
    ctx.warnings->push_back(What(ino) +
                            ": casefolded, but the filesystem's encoding is "
                            "unknown to libext2fs: not scrambled");
    ++ctx.stats->skipped_other;
    return Status::OK();
  }
  std::vector<DirBlock> blocks;
  E2Q_RETURN_IF_ERROR(ReadBlocks(ctx, ino, &blocks));
  E2Q_RETURN_IF_ERROR(ChooseNames(ctx, ino, casefold, &blocks));
  ++ctx.stats->directories;

  const bool htree = (inode.i_flags & EXT2_INDEX_FL) != 0 &&
                     ext2fs_has_feature_dir_index(ctx.fs->super);
  if (htree && !ctx.htree_to_linear) {
    Status st = RebuildHtree(ctx, ino, inode, blocks);
    if (st.ok()) {
      ++ctx.stats->htree_rebuilt;
      return Status::OK();
    }
    if (st.code() != Code::kNotSupported) return st;
    ctx.warnings->push_back(What(ino) + ": htree not rebuilt (" + st.message() +
                            "): made linear");
  }
  if (htree) {
    // Without an index the entries stay where they are, so they always
    // fit; the inode loses EXT2_INDEX_FL so that nobody looks for one.
    E2Q_ASSIGN_OR_RETURN(std::vector<uint8_t> raw, ctx.inodes->Read(ino));
    uint32_t flags = LoadLE32(raw.data() + kInodeFlagsOffset);
    StoreLE32(raw.data() + kInodeFlagsOffset, flags & ~EXT2_INDEX_FL);
    E2Q_RETURN_IF_ERROR(ctx.inodes->Write(ino, std::move(raw)));
    ++ctx.stats->htree_linearized;
  }
  for (const DirBlock& b : blocks) RewriteInPlace(ctx, ino, b, htree);
  return Status::OK();
}

}  // namespace e2q::scramble
