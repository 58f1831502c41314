// Rollback engine: a checking pass over every recorded block, then a
// writing pass, both in runs of up to 8 MiB.
#include "snapshot/rollback.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "lib/base/is_zero.h"

namespace e2q::snapshot {

namespace {

constexpr uint64_t kChunkBytes = 8 << 20;
constexpr uint64_t kUuidOffset = 1024 + 0x68;  // s_uuid

// Calls fn(first, count) for pieces of at most kChunkBytes of each run.
template <typename Fn>
Status ForEachChunk(const BlockSet& blocks, uint32_t bs, Fn fn) {
  const uint64_t per = std::max<uint64_t>(1, kChunkBytes / bs);
  for (const BlockRun& run : blocks.Runs()) {
    for (uint64_t b = run.start; b < run.start + run.count;) {
      uint64_t n = std::min(per, run.start + run.count - b);
      E2Q_RETURN_IF_ERROR(fn(b, n));
      b += n;
    }
  }
  return Status::OK();
}

// True when each 512-byte sector of `cur` equals that sector of `a` or of
// `b`: a block that a write interrupted by a crash left half done.
bool SectorsMatch(const uint8_t* cur, const uint8_t* a, const uint8_t* b,
                  uint32_t bs) {
  for (uint32_t s = 0; s < bs; s += 512) {
    const uint32_t n = std::min<uint32_t>(512, bs - s);
    if (std::memcmp(cur + s, a + s, n) != 0 &&
        std::memcmp(cur + s, b + s, n) != 0) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<BlockSet> DiffBlocks(io::File* device, io::File* target,
                            const BlockSet& candidates, uint32_t bs,
                            const std::function<void(uint64_t)>& progress) {
  BlockSet diff;
  std::vector<uint8_t> a, b;
  uint64_t done = 0;
  E2Q_RETURN_IF_ERROR(
      ForEachChunk(candidates, bs, [&](uint64_t first, uint64_t n) {
        a.resize(n * bs);
        b.resize(n * bs);
        E2Q_RETURN_IF_ERROR(device->ReadAt(first * bs, a.data(), a.size()));
        E2Q_RETURN_IF_ERROR(target->ReadAt(first * bs, b.data(), b.size()));
        for (uint64_t k = 0; k < n; ++k) {
          if (std::memcmp(&a[k * bs], &b[k * bs], bs) != 0) diff.Add(first + k);
        }
        done += n;
        if (progress) progress(done);
        return Status::OK();
      }));
  return diff;
}

Result<std::array<uint8_t, 16>> ReadFsUuid(io::File* device) {
  std::array<uint8_t, 16> uuid{};
  E2Q_RETURN_IF_ERROR(device->ReadAt(kUuidOffset, uuid.data(), uuid.size()));
  return uuid;
}

Result<ApplyResult> ApplyUndo(UndoFile* undo, io::File* device, Direction dir,
                              const ApplyOptions& o) {
  const UndoIdentity& id = undo->identity();
  const uint32_t bs = id.block_size;
  const std::string& dev = device->name();
  E2Q_ASSIGN_OR_RETURN(uint64_t size, device->Size());
  if (size != id.device_size) {
    return Status::InvalidArgument(
        dev + ": refusing: " + undo->name() + " was made for a device of " +
        std::to_string(id.device_size) + " bytes, this one has " +
        std::to_string(size));
  }
  // Where the undo file records the block holding the UUID (an install
  // that creates or replaces the superblock), the block check below judges
  // it, as every other recorded block.
  E2Q_ASSIGN_OR_RETURN(auto uuid, ReadFsUuid(device));
  if (uuid != id.uuid && !undo->blocks().Contains(kUuidOffset / bs)) {
    return Status::InvalidArgument(dev + ": refusing: " + undo->name() +
                                   " was made for another filesystem (UUID "
                                   "differs)");
  }

  // Pass 1: every recorded block must be original or new; checksums of
  // the undo file's two contents must match its record.
  ApplyResult r;
  r.blocks = undo->blocks().size();
  ContentSum original_sum, target_sum;
  uint64_t other = 0, first_other = 0, done = 0;
  std::vector<uint8_t> cur, orig, tgt;
  E2Q_RETURN_IF_ERROR(
      ForEachChunk(undo->blocks(), bs, [&](uint64_t first, uint64_t n) {
        cur.resize(n * bs);
        orig.resize(n * bs);
        tgt.resize(n * bs);
        E2Q_RETURN_IF_ERROR(device->ReadAt(first * bs, cur.data(), cur.size()));
        E2Q_RETURN_IF_ERROR(undo->Read(false, first, n, orig.data()));
        E2Q_RETURN_IF_ERROR(undo->Read(true, first, n, tgt.data()));
        original_sum.Update(orig.data(), orig.size());
        target_sum.Update(tgt.data(), tgt.size());
        for (uint64_t k = 0; k < n; ++k) {
          const uint8_t* c = &cur[k * bs];
          if (std::memcmp(c, &orig[k * bs], bs) == 0) {
            ++r.at_original;
          } else if (std::memcmp(c, &tgt[k * bs], bs) == 0) {
            ++r.at_target;
          } else if (SectorsMatch(c, &orig[k * bs], &tgt[k * bs], bs)) {
            ++r.torn;
          } else if (other++ == 0) {
            first_other = first + k;
          }
        }
        done += n;
        if (o.progress) o.progress(done);
        return Status::OK();
      }));
  if (original_sum.value() != id.original_sum ||
      target_sum.value() != id.target_sum) {
    return Status::Corruption(undo->name() +
                              ": undo file: saved content does not match its "
                              "checksums; refusing to use it");
  }
  if (other > 0) {
    return Status::InvalidArgument(
        dev + ": refusing: " + std::to_string(other) + " of the " +
        std::to_string(r.blocks) + " blocks recorded in " + undo->name() +
        " (first: block " + std::to_string(first_other) +
        ") hold neither their original nor their rolled-back content; the "
        "device was changed since, or the undo file is for another device");
  }
  const bool to_target = dir == Direction::kRollback;
  r.written = (to_target ? r.at_original : r.at_target) + r.torn;
  if (o.dry_run) return r;

  // Pass 2: write what is missing, contiguous blocks together.
  const uint64_t max_blocks = std::max<uint64_t>(1, o.max_write_bytes / bs);
  E2Q_RETURN_IF_ERROR(
      ForEachChunk(undo->blocks(), bs, [&](uint64_t first, uint64_t n) {
        cur.resize(n * bs);
        tgt.resize(n * bs);
        E2Q_RETURN_IF_ERROR(device->ReadAt(first * bs, cur.data(), cur.size()));
        E2Q_RETURN_IF_ERROR(undo->Read(to_target, first, n, tgt.data()));
        for (uint64_t k = 0; k < n;) {
          if (std::memcmp(&cur[k * bs], &tgt[k * bs], bs) == 0) {
            ++k;
            continue;
          }
          // A run of differing blocks in which neither the content there
          // nor the content wanted changes between zero and not: zeros
          // become zeroing (a hole in a file, BLKZEROOUT on a device), and
          // a rollback and its undo cut the same runs.
          const bool zero = IsZero(&tgt[k * bs], bs);
          const bool was_zero = IsZero(&cur[k * bs], bs);
          uint64_t m = 1;
          while (k + m < n && m < max_blocks &&
                 std::memcmp(&cur[(k + m) * bs], &tgt[(k + m) * bs], bs) != 0 &&
                 IsZero(&tgt[(k + m) * bs], bs) == zero &&
                 IsZero(&cur[(k + m) * bs], bs) == was_zero) {
            ++m;
          }
          if (zero) {
            E2Q_RETURN_IF_ERROR(device->ZeroRange((first + k) * bs, m * bs));
          } else {
            E2Q_RETURN_IF_ERROR(
                device->WriteAt((first + k) * bs, &tgt[k * bs], m * bs));
          }
          ++r.writes;
          k += m;
        }
        done += n;
        if (o.progress) o.progress(done);
        return Status::OK();
      }));
  E2Q_RETURN_IF_ERROR(device->Sync());
  // Advisory only: the block states above decide every later run.
  (void)undo->SetState(to_target ? UndoState::kRolledBack : UndoState::kUndone);
  return r;
}

}  // namespace e2q::snapshot
