// SelectBlocks: fixed metadata from the group descriptors, then an inode
// table scan (split between threads) that feeds InodeWalker.
#include "lib/ext4/ext4_select.h"

#include <algorithm>
#include <thread>

#include "lib/base/endian.h"
#include "lib/ext4/ext4_inode_walk.h"
#include "lib/io/aligned_buffer.h"
#include "lib/io/slow_reads.h"

namespace e2q::ext4 {

namespace {

// Inode tables are read in runs of this many bytes.
constexpr uint64_t kScanChunkBytes = 4 << 20;
// Once reads wait for the device, the table bytes up to this far ahead of
// a scanning thread's reads are announced to it.
constexpr uint64_t kScanAheadBytes = 16 << 20;
// Below this many inodes a second thread costs more than it saves.
constexpr uint64_t kMinInodesPerThread = 1 << 16;
// More warnings than this are summarised in one line.
constexpr size_t kMaxWarnings = 100;

// The part of one group's inode table to scan.
struct ScanRange {
  uint64_t group;
  uint64_t table;   // first block of the table
  uint64_t inodes;  // inodes to scan from the start of the table
};

// Where a group's inode table is and how much of it the scan covers; the
// rest is looked up when a directory entry points into it.
using GroupTable = SkippedRefs::Table;

std::string GroupWhat(uint64_t g, const char* what) {
  return "group " + std::to_string(g) + ": " + what;
}

class Planner {
 public:
  Planner(const Filesystem& fs, const SelectOptions& o, Selection* sel)
      : fs_(fs), f_(fs.raw()), o_(o), sel_(sel) {}

  void Run() {
    AddSuperblocksAndDescriptors();
    if (ext2fs_has_feature_mmp(f_->super)) {
      AddChecked(f_->super->s_mmp_block, 1, "MMP block");
    }
    for (dgrp_t g = 0; g < f_->group_desc_count; ++g) PlanGroup(g);
  }

  std::vector<ScanRange>& ranges() { return ranges_; }
  const std::vector<GroupTable>& tables() const { return tables_; }

 private:
  void AddChecked(uint64_t block, uint64_t count, const std::string& what) {
    const uint64_t end = fs_.blocks_count();
    if (block >= end || count > end - block) {
      sel_->warnings.push_back(what + " at block " + std::to_string(block) +
                               ": outside the filesystem");
      if (block < end) sel_->blocks.Add(block, end - block);
      return;
    }
    sel_->blocks.Add(block, count);
  }

  void AddSuperblocksAndDescriptors() {
    const uint64_t first = f_->super->s_first_data_block;
    sel_->blocks.Add(first);
    for (dgrp_t j = 0; j < f_->desc_blocks; ++j) {
      AddChecked(ext2fs_descriptor_block_loc2(f_, first, j), 1,
                 "group descriptor block " + std::to_string(j));
    }
    // The backup the filesystem was opened through (-b, or the fallback
    // when the primary is unusable): e2fsck on the image will need it.
    uint64_t backup =
        fs_.superblock() ? fs_.superblock() : o_.backup_superblock;
    if (backup != 0) {
      AddChecked(backup, 1, "backup superblock");
      for (dgrp_t j = 0; j < f_->desc_blocks; ++j) {
        AddChecked(ext2fs_descriptor_block_loc2(f_, backup, j), 1,
                   "backup group descriptor block " + std::to_string(j));
      }
    }
    if (!ext2fs_has_feature_meta_bg(f_->super) &&
        f_->super->s_reserved_gdt_blocks != 0) {
      AddChecked(first + 1 + f_->desc_blocks, f_->super->s_reserved_gdt_blocks,
                 "reserved GDT blocks");
    }
    // Backups of the superblock and descriptors (e2fsck falls back to
    // them).  Not with -a, whose output must equal e2image -ra's.
    if (o_.all_data) return;
    const uint64_t old_desc_blocks =
        ext2fs_has_feature_meta_bg(f_->super)
            ? std::min<uint64_t>(f_->super->s_first_meta_bg, f_->desc_blocks)
            : uint64_t{f_->desc_blocks} + f_->super->s_reserved_gdt_blocks;
    for (dgrp_t g = 0; g < f_->group_desc_count; ++g) {
      blk64_t super = 0, old_desc = 0, new_desc = 0;
      if (ext2fs_super_and_bgd_loc2(f_, g, &super, &old_desc, &new_desc,
                                    nullptr) != 0) {
        continue;
      }
      if (super != 0) AddChecked(super, 1, GroupWhat(g, "superblock"));
      if (old_desc != 0 && old_desc_blocks != 0) {
        AddChecked(old_desc, old_desc_blocks,
                   GroupWhat(g, "descriptor blocks"));
      }
      if (new_desc != 0) {
        AddChecked(new_desc, 1, GroupWhat(g, "meta_bg descriptor block"));
      }
    }
  }

  // A bitmap block unless e2fsck would not read it either: an
  // uninitialised group whose descriptor checksum proves the flag.
  void PlanBitmap(dgrp_t g, bool trusted, uint16_t uninit_flag, uint64_t block,
                  const char* what) {
    if (trusted && ext2fs_bg_flags_test(f_, g, uninit_flag)) return;
    if (block == 0) {
      sel_->warnings.push_back(GroupWhat(g, what) + ": no location");
      return;
    }
    AddChecked(block, 1, GroupWhat(g, what));
  }

  void PlanGroup(dgrp_t g) {
    // Without a verified checksum e2fsck distrusts the UNINIT flags and
    // itable_unused, and so do we.
    const bool trusted =
        ext2fs_has_group_desc_csum(f_) && ext2fs_group_desc_csum_verify(f_, g);
    PlanBitmap(g, trusted, EXT2_BG_BLOCK_UNINIT, ext2fs_block_bitmap_loc(f_, g),
               "block bitmap");
    PlanBitmap(g, trusted, EXT2_BG_INODE_UNINIT, ext2fs_inode_bitmap_loc(f_, g),
               "inode bitmap");
    const uint64_t ipg = EXT2_INODES_PER_GROUP(f_->super);
    const uint64_t ipb = EXT2_INODES_PER_BLOCK(f_->super);
    const uint64_t table_blocks = f_->inode_blocks_per_group;
    const uint64_t table = ext2fs_inode_table_loc(f_, g);
    const uint64_t end = fs_.blocks_count();
    if (table == 0 || table < f_->super->s_first_data_block || table >= end) {
      sel_->warnings.push_back(GroupWhat(g, "inode table at block ") +
                               std::to_string(table) +
                               ": outside the filesystem; inodes not scanned");
      return;
    }
    GroupTable& gt = tables_[g];
    gt.table = table;
    gt.blocks = std::min(table_blocks, end - table);
    if (trusted && ext2fs_bg_flags_test(f_, g, EXT2_BG_INODE_UNINIT)) return;

    uint64_t inodes = ipg;
    uint64_t blocks = table_blocks;
    if (trusted) {
      const uint64_t unused = ext2fs_bg_itable_unused(f_, g);
      inodes = unused < ipg ? ipg - unused : 0;
      if (unused / ipb > table_blocks) {
        // e2image's unsigned arithmetic wraps here and takes everything
        // from the table to the end of the filesystem; so do we.
        sel_->warnings.push_back(GroupWhat(g, "itable_unused ") +
                                 std::to_string(unused) + " exceeds the table");
        blocks = end - table;
      } else {
        blocks = table_blocks - unused / ipb;
      }
    }
    if (blocks > end - table) {
      sel_->warnings.push_back(GroupWhat(g, "inode table at block ") +
                               std::to_string(table) +
                               ": runs past the end of the filesystem");
      blocks = end - table;
      inodes = std::min(inodes, blocks * ipb);
    }
    sel_->blocks.Add(table, blocks);
    gt.scanned = inodes;
    if (inodes != 0) ranges_.push_back({g, table, inodes});
  }

  const Filesystem& fs_;
  ext2_filsys f_;
  const SelectOptions& o_;
  Selection* sel_;
  std::vector<ScanRange> ranges_;
  std::vector<GroupTable> tables_ =
      std::vector<GroupTable>(f_->group_desc_count);
};

WalkGeometry MakeGeometry(const Filesystem& fs, const SelectOptions& o) {
  ext2_filsys f = fs.raw();
  ext2_super_block* s = f->super;
  WalkGeometry g;
  g.block_size = f->blocksize;
  g.blocks_count = fs.blocks_count();
  g.first_data_block = s->s_first_data_block;
  g.inode_size = EXT2_INODE_SIZE(s);
  g.first_ino = EXT2_FIRST_INODE(s);
  g.has_64bit = ext2fs_has_feature_64bit(s);
  g.has_extents = ext2fs_has_feature_extents(s);
  g.journal_inum = s->s_journal_inum;
  g.orphan_file_inum = s->s_orphan_file_inum;
  g.quota_inums[0] = s->s_usr_quota_inum;
  g.quota_inums[1] = s->s_grp_quota_inum;
  g.quota_inums[2] = s->s_prj_quota_inum;
  g.all_data = o.all_data;
  return g;
}

// One thread's share of the scan.
struct ScanResult {
  BlockSet blocks;
  BlockSet dirs;  // directory data blocks, for ForEachDirEntryInode
  std::vector<std::string> warnings;
};

// The inode table bytes a scan reads, in order, for announcing them ahead
// of its reads.
class TableAhead {
 public:
  TableAhead(io::File* device, uint64_t bs, uint64_t isz,
             const ScanRange* begin, const ScanRange* end)
      : hints_(device), bs_(bs), isz_(isz), next_(begin), end_(end) {}

  // The scan is about to read `want` bytes (and has read `read` before):
  // announces what follows them, up to kScanAheadBytes.
  void Before(uint64_t read, uint64_t want) {
    const uint64_t until = read + want + kScanAheadBytes;
    while (passed_ < until && next_ != end_) {
      const uint64_t table_bytes = (next_->inodes * isz_ + bs_ - 1) / bs_ * bs_;
      const uint64_t len = std::min(table_bytes - in_range_, until - passed_);
      const uint64_t from = next_->table * bs_ + in_range_;
      // Only what lies past the read about to be made (announcing may
      // start late, when reads turn out slow).
      if (passed_ + len > read + want) {
        const uint64_t skip =
            passed_ >= read + want ? 0 : read + want - passed_;
        hints_.Add(from + skip, len - skip);
      }
      passed_ += len;
      in_range_ += len;
      if (in_range_ == table_bytes) {
        ++next_;
        in_range_ = 0;
      }
    }
    hints_.Flush();
  }

 private:
  io::PrefetchHints hints_;
  const uint64_t bs_, isz_;
  const ScanRange* next_;
  const ScanRange* const end_;
  uint64_t in_range_ = 0;  // bytes of *next_ passed
  uint64_t passed_ = 0;    // bytes of all ranges passed
};

void ScanRanges(io::File* device, const WalkGeometry& geo, uint64_t ipg,
                const ScanRange* begin, const ScanRange* end,
                ScanResult* result) {
  InodeWalker walker(device, geo, &result->blocks, &result->warnings);
  walker.set_dir_blocks(&result->dirs);
  const uint64_t bs = geo.block_size;
  const uint64_t isz = geo.inode_size;
  // Reads of up to kScanChunkBytes, but no larger than the largest table
  // to read: the buffer is touched when allocated, and 4 MiB of page
  // faults were half the time of a -Q of a filesystem of few inodes.
  uint64_t largest = 1;
  for (const ScanRange* r = begin; r != end; ++r) {
    largest = std::max(largest, (r->inodes * isz + bs - 1) / bs);
  }
  const uint64_t chunk_blocks =
      std::max<uint64_t>(1, std::min(kScanChunkBytes / bs, largest));
  // One buffer for the whole scan (a buffer grown per read costs a fresh
  // mapping and its page faults every time).
  const io::AlignedBytes buf = io::AllocateTouched(chunk_blocks * bs);
  io::SlowReads slow(device);
  TableAhead ahead(device, bs, isz, begin, end);
  uint64_t read_bytes = 0;
  for (const ScanRange* r = begin; r != end; ++r) {
    const uint64_t need_blocks = (r->inodes * isz + bs - 1) / bs;
    uint64_t index = 0;  // inode index within the group
    for (uint64_t b = 0; b < need_blocks && index < r->inodes;
         b += chunk_blocks) {
      const uint64_t n = std::min(chunk_blocks, need_blocks - b);
      const uint64_t want = n * bs;
      const uint64_t offset = (r->table + b) * bs;
      if (slow.active()) ahead.Before(read_bytes, want);
      read_bytes += want;
      uint64_t got = 0;
      const auto start = io::SlowReads::Clock::now();
      while (got < want) {
        Result<size_t> rd =
            device->ReadSome(offset + got, buf.get() + got, want - got);
        if (!rd.ok() || *rd == 0) {
          result->warnings.push_back(
              GroupWhat(r->group, "inode table block ") +
              std::to_string(r->table + b + got / bs) + ": " +
              (rd.ok() ? std::string("past the end of the device")
                       : rd.status().message()));
          break;
        }
        got += *rd;
      }
      slow.Note(got, start);
      // Unreadable inodes are skipped, like e2fsck's bad inode table
      // blocks; the readable ones before them are still walked.
      const uint64_t readable = got / isz;
      const uint64_t in_chunk = std::min(n * bs / isz, r->inodes - index);
      for (uint64_t i = 0; i < std::min(readable, in_chunk); ++i) {
        const uint64_t ino = r->group * ipg + index + i + 1;
        if (ino > UINT32_MAX) return;  // only with an inconsistent superblock
        walker.Walk(static_cast<uint32_t>(ino), buf.get() + i * isz);
      }
      index += in_chunk;
    }
  }
}

// Makes the directory pass of sel->skipped_refs now, on `threads` threads
// (0: SkippedRefs::DefaultThreads()), and adds what it finds.
void MakeDeferredPass(const Filesystem& fs, unsigned threads, Selection* sel) {
  if (!sel->skipped_refs) return;
  BlockSet found;
  sel->skipped_refs->ReadAndInspect(fs.device(), sel->skipped_refs->dirs(),
                                    threads, &found, &sel->warnings);
  sel->blocks.Add(found);
  sel->skipped_refs.reset();
}

// The directory blocks' pass for entries that name inodes the scan skipped
// (see lib/ext4/ext4_dir_refs.h): made here on `threads` threads (it reads
// every directory block and costs a warm -Q of a copy of /usr a sixth of
// its time), or left to the copy in sel->skipped_refs.
void AddReferencedSkippedInodes(const Filesystem& fs,
                                const std::vector<GroupTable>& tables,
                                BlockSet dirs, unsigned threads, bool defer,
                                Selection* sel) {
  const uint64_t ipg = EXT2_INODES_PER_GROUP(fs.raw()->super);
  bool any_skipped = false;
  for (const GroupTable& t : tables) {
    any_skipped |= t.table != 0 && t.scanned < ipg;
  }
  if (!any_skipped || dirs.empty()) return;
  SkippedRefs::Geometry geo;
  geo.block_size = fs.block_size();
  geo.inode_size = EXT2_INODE_SIZE(fs.raw()->super);
  geo.inodes_per_group = ipg;
  geo.cluster_ratio = EXT2FS_CLUSTER_RATIO(fs.raw());
  geo.blocks_count = fs.blocks_count();
  geo.first_data_block = fs.raw()->super->s_first_data_block;
  sel->skipped_refs =
      std::make_shared<const SkippedRefs>(geo, tables, std::move(dirs));
  if (!defer) MakeDeferredPass(fs, threads, sel);
}

// The journal through the superblock's backup of its block map.
void AddJournalBackup(const Filesystem& fs, const WalkGeometry& geo,
                      Selection* sel) {
  ext2_super_block* s = fs.raw()->super;
  if (!ext2fs_has_feature_journal(s) || s->s_journal_inum == 0 ||
      s->s_jnl_backup_type != EXT3_JNL_BACKUP_BLOCKS) {
    return;
  }
  uint8_t raw[17 * 4];
  for (int i = 0; i < 17; ++i) StoreLE32(raw + 4 * i, s->s_jnl_blocks[i]);
  InodeWalker walker(fs.device(), geo, &sel->blocks, &sel->warnings);
  walker.WalkJournalBackup(s->s_journal_inum, raw);
}

// Everything but the final widening, clipping and warning cap.
void SelectInto(const Filesystem& fs, const SelectOptions& o, Selection* sel) {
  if (!fs.open_note().empty()) sel->warnings.push_back(fs.open_note());
  Planner planner(fs, o, sel);
  planner.Run();
  std::vector<ScanRange>& ranges = planner.ranges();

  const WalkGeometry geo = MakeGeometry(fs, o);
  const uint64_t ipg = EXT2_INODES_PER_GROUP(fs.raw()->super);
  uint64_t total = 0;
  for (const ScanRange& r : ranges) total += r.inodes;
  // The directory pass (see AddReferencedSkippedInodes) splits its own
  // work, by directory blocks.
  const unsigned dir_threads =
      o.threads != 0 ? o.threads : SkippedRefs::DefaultThreads();
  unsigned threads = o.threads;
  if (threads == 0) {
    threads = dir_threads;
    if (total < 2 * kMinInodesPerThread) threads = 1;
  }
  threads = static_cast<unsigned>(
      std::max<size_t>(1, std::min<size_t>(threads, ranges.size())));

  // Contiguous shares of about equal inode counts, so warnings stay in
  // inode order when concatenated.
  std::vector<size_t> cuts(threads + 1, ranges.size());
  cuts[0] = 0;
  uint64_t acc = 0;
  unsigned t = 1;
  for (size_t i = 0; i < ranges.size() && t < threads; ++i) {
    acc += ranges[i].inodes;
    while (t < threads && acc * threads >= total * t) cuts[t++] = i + 1;
  }

  std::vector<ScanResult> results(threads);
  std::vector<std::thread> workers;
  for (t = 1; t < threads; ++t) {
    workers.emplace_back(ScanRanges, fs.device(), std::cref(geo), ipg,
                         ranges.data() + cuts[t], ranges.data() + cuts[t + 1],
                         &results[t]);
  }
  ScanRanges(fs.device(), geo, ipg, ranges.data() + cuts[0],
             ranges.data() + cuts[1], &results[0]);
  for (std::thread& w : workers) w.join();
  BlockSet dirs;
  for (ScanResult& r : results) {
    sel->blocks.Add(r.blocks);
    dirs.Add(r.dirs);
    for (std::string& w : r.warnings) sel->warnings.push_back(std::move(w));
  }
  AddJournalBackup(fs, geo, sel);
  AddReferencedSkippedInodes(fs, planner.tables(), std::move(dirs), dir_threads,
                             o.defer_dir_refs, sel);
}

}  // namespace

Result<Selection> SelectBlocks(const Filesystem& fs, const SelectOptions& o) {
  Selection sel;
  SelectInto(fs, o, &sel);

  // Group descriptors that fail e2fsck's sanity check make it start over
  // from the first backup; select what that backup describes too.
  errcode_t bad_desc = ext2fs_check_desc(fs.raw());
  if (bad_desc != 0 && fs.superblock() == 0) {
    Filesystem::OpenOptions bo;
    bo.superblock = uint64_t{fs.raw()->super->s_first_data_block} +
                    fs.raw()->super->s_blocks_per_group;
    bo.block_size = fs.block_size();
    bo.fall_back_to_backup = false;
    Result<std::unique_ptr<Filesystem>> backup =
        Filesystem::Open(fs.device(), bo);
    // Two selections, one pass each: the first one's is not deferred.
    MakeDeferredPass(fs, o.threads, &sel);
    std::string why =
        FromErrcode("group descriptors", "check", bad_desc).message();
    if (backup.ok()) {
      sel.warnings.push_back(why + "; also selected what backup superblock " +
                             std::to_string(bo.superblock) + " describes");
      SelectOptions backup_options = o;
      backup_options.backup_superblock = bo.superblock;
      backup_options.defer_dir_refs = false;
      SelectInto(**backup, backup_options, &sel);
    } else {
      sel.warnings.push_back(why + "; backup superblock " +
                             std::to_string(bo.superblock) + " unusable too");
    }
  }

  const uint64_t ratio = EXT2FS_CLUSTER_RATIO(fs.raw());
  // Bigalloc: e2image's block map works in clusters, so whole clusters.
  sel.blocks.AlignTo(ratio, fs.blocks_count());
  // The boot block of 1 KiB filesystems, which e2image never copies.
  sel.blocks.DropBelow(fs.raw()->super->s_first_data_block);

  if (sel.warnings.size() > kMaxWarnings) {
    size_t more = sel.warnings.size() - kMaxWarnings;
    sel.warnings.resize(kMaxWarnings);
    sel.warnings.push_back("... and " + std::to_string(more) +
                           " more problems");
  }
  return sel;
}

}  // namespace e2q::ext4
