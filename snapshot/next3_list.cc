// ReadSnapshotList: a bounded walk of the on-disk snapshot list.
#include "snapshot/next3_list.h"

#include <cstdio>
#include <unordered_set>

namespace e2q::snapshot {

namespace {

std::string Num(uint64_t v) { return std::to_string(v); }

std::string Octal(unsigned v) {
  char buf[16];
  snprintf(buf, sizeof(buf), "0%o", v);
  return buf;
}

// Checks one list entry read from inode `ino`; returns its image size in
// blocks.
Result<uint64_t> CheckEntry(const std::string& where, const ListHead& head,
                            const Next3Inode& inode) {
  auto bad = [&](const std::string& what) {
    return Status::Corruption(where + ": " + what);
  };
  if (!inode.is_regular()) {
    return bad("not a regular file (mode " + Octal(inode.mode) + ")");
  }
  if (!(inode.flags & kSnapfileFl)) {
    return bad("not a snapshot file (the snapshot flag 0x1000000 is clear)");
  }
  if (inode.dtime != 0)
    return bad("deleted inode (dtime " + Num(inode.dtime) + ")");
  if (inode.flags & kExtentsFl) {
    return bad("extent-mapped (snapshot files are always indirect-mapped)");
  }
  if (inode.generation == 0) return bad("snapshot ID (i_generation) is 0");
  for (int slot = kExtraTindSlots; slot <= kIndSlot; ++slot) {
    if (inode.block[slot] != 0) {
      return bad("i_block[" + Num(slot) + "] is " + Num(inode.block[slot]) +
                 " (unused by snapshot files, must be 0)");
    }
  }
  // The tree roots (DIND, TIND, extra TINDs); deeper pointers are checked
  // when a map is read.
  for (int slot : {kDindSlot, kTindSlot, 0, 1, 2}) {
    if (inode.block[slot] >= head.fs_blocks_count) {
      return bad("i_block[" + Num(slot) + "] is " + Num(inode.block[slot]) +
                 ", past the end of the filesystem (" +
                 Num(head.fs_blocks_count) + " blocks)");
    }
  }
  const uint64_t size = inode.size;
  if (size % kBlockSize != 0 || size / kBlockSize <= kSnapshotBlockOffset) {
    return bad("size " + Num(size) +
               " is not (blocks + 1036) * 4096 for any block count");
  }
  const uint64_t blocks = size / kBlockSize - kSnapshotBlockOffset;
  if (blocks > head.fs_blocks_count || blocks > kMaxSnapshotBlocks) {
    return bad("size says " + Num(blocks) +
               " blocks, more than the filesystem's " +
               Num(head.fs_blocks_count));
  }
  return blocks;
}

}  // namespace

const char* StateName(SnapshotState state) {
  switch (state) {
    case SnapshotState::kActive:
      return "active";
    case SnapshotState::kFrozen:
      return "frozen";
    case SnapshotState::kDeleted:
      return "deleted";
    case SnapshotState::kShrunk:
      return "shrunk";
  }
  return "?";
}

SnapshotState StateOf(const Next3Inode& inode, uint32_t ino,
                      uint32_t active_ino) {
  if (inode.flags & kSnapfileShrunkFl) return SnapshotState::kShrunk;
  if (inode.flags & kSnapfileDeletedFl) return SnapshotState::kDeleted;
  if (ino == active_ino) return SnapshotState::kActive;
  return SnapshotState::kFrozen;
}

Result<std::vector<ListedSnapshot>> ReadSnapshotList(const std::string& object,
                                                     const ListHead& head,
                                                     const InodeReader& read) {
  const std::string prefix = object + ": snapshot list: ";
  std::vector<ListedSnapshot> out;
  const uint32_t start = head.list != 0 ? head.list : head.active;
  if (start == 0) return out;
  if (head.active == 0) {
    return Status::Corruption(prefix + "s_snapshot_list is " + Num(start) +
                              " but s_snapshot_inum (the active snapshot) "
                              "is 0");
  }
  std::unordered_set<uint32_t> seen;
  std::string from = head.list != 0 ? "s_snapshot_list" : "s_snapshot_inum";
  bool active_seen = false;
  uint32_t prev_id = 0;
  uint32_t prev_ino = 0;
  for (uint32_t ino = start; ino != 0;) {
    if (ino < head.first_ino || ino > head.inodes_count) {
      return Status::Corruption(prefix + from + " names inode " + Num(ino) +
                                ", outside the usable inodes " +
                                Num(head.first_ino) + ".." +
                                Num(head.inodes_count));
    }
    // Each inode at most once: this also bounds the walk by inodes_count.
    if (!seen.insert(ino).second) {
      return Status::Corruption(prefix + from + " names inode " + Num(ino) +
                                " again: the list has a cycle");
    }
    const std::string where = prefix + "inode " + Num(ino);
    Result<Next3Inode> r = read(ino);
    if (!r.ok()) return r.status().WithContext(where);
    const Next3Inode& inode = r.value();
    E2Q_ASSIGN_OR_RETURN(uint64_t blocks, CheckEntry(where, head, inode));
    if (prev_ino != 0 && inode.generation >= prev_id) {
      return Status::Corruption(
          where + ": snapshot ID " + Num(inode.generation) +
          " is not below the ID " + Num(prev_id) + " of the newer inode " +
          Num(prev_ino) + " (IDs must decrease along the list)");
    }
    if (ino == head.active) active_seen = true;
    if (active_seen) {
      ListedSnapshot s;
      s.info.id = inode.generation;
      s.info.inode = ino;
      s.info.state = StateOf(inode, ino, head.active);
      s.info.blocks_count = blocks;
      s.info.created = inode.crtime != 0 ? inode.crtime : inode.mtime;
      s.inode = inode;
      out.push_back(std::move(s));
    }
    prev_id = inode.generation;
    prev_ino = ino;
    from = "i_next_snapshot of inode " + Num(ino);
    ino = inode.next_snapshot;
  }
  if (!active_seen) {
    return Status::Corruption(prefix + "the active snapshot (s_snapshot_inum " +
                              Num(head.active) + ") is not on the list");
  }
  return out;
}

}  // namespace e2q::snapshot
