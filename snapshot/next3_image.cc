// ReadThroughFile: block resolution along the chain, then coalesced reads.
#include "snapshot/next3_image.h"

#include <algorithm>
#include <cstring>

namespace e2q::snapshot {

namespace {
std::string Num(uint64_t v) { return std::to_string(v); }
}  // namespace

ReadThroughFile::ReadThroughFile(
    std::string name, io::File* device,
    std::vector<std::shared_ptr<const SnapshotMap>> chain,
    std::shared_ptr<const LiveLayout> live,
    std::shared_ptr<const ExcludeBitmap> exclude, uint64_t image_blocks)
    : io::File(std::move(name)),
      device_(device),
      chain_(std::move(chain)),
      live_(std::move(live)),
      exclude_(std::move(exclude)),
      image_blocks_(image_blocks) {
  for (uint64_t g = 0; g < live_->block_bitmaps.size(); ++g) {
    bitmaps_.emplace_back(live_->block_bitmaps[g], g);
  }
  std::sort(bitmaps_.begin(), bitmaps_.end());
}

ReadThroughFile::Source ReadThroughFile::Resolve(uint64_t block,
                                                 uint64_t max_count) const {
  Source s;
  uint64_t limit = std::min(max_count, image_blocks_ - block);
  for (size_t i = 0; i < chain_.size(); ++i) {
    SnapshotMap::Lookup l = chain_[i]->Find(block);
    if (l.mapped) {
      s.kind = Source::kLayer;
      s.layer = i;
      s.physical = l.physical;
      s.count = std::min(limit, l.count);
      return s;
    }
    // Only as far as this (older) snapshot's hole goes: past it, this
    // snapshot, not a newer one, holds the block.
    limit = std::min(limit, l.count);
  }
  // Fall through to the live filesystem.
  auto bm = std::lower_bound(bitmaps_.begin(), bitmaps_.end(),
                             std::make_pair(block, uint64_t{0}));
  if (bm != bitmaps_.end() && bm->first == block) {
    s.kind = Source::kBlockBitmap;
    s.group = bm->second;
    s.count = 1;
    return s;
  }
  if (exclude_->IsBitmapBlock(block)) {
    s.kind = Source::kZero;
    s.count = 1;
    return s;
  }
  uint64_t next_special = exclude_->NextBitmapBlock(block);
  if (bm != bitmaps_.end()) next_special = std::min(next_special, bm->first);
  s.kind = Source::kLive;
  s.physical = block;
  s.count = std::min(limit, next_special - block);
  return s;
}

Status ReadThroughFile::ReadDevice(uint64_t image_block, uint64_t physical,
                                   uint64_t count, uint8_t* out) const {
  Status s = device_->ReadAt(physical * kBlockSize, out, count * kBlockSize);
  if (!s.ok()) {
    return s.WithContext(name() + ": image blocks " + Num(image_block) + ".." +
                         Num(image_block + count - 1) + " (device blocks " +
                         Num(physical) + "..)");
  }
  return Status::OK();
}

Status ReadThroughFile::SynthesizeBitmap(uint64_t group, uint8_t* out) const {
  const uint64_t live_block = live_->block_bitmaps[group];
  Status s = device_->ReadAt(live_block * kBlockSize, out, kBlockSize);
  if (!s.ok()) {
    return s.WithContext(name() + ": block bitmap of group " + Num(group));
  }
  uint8_t exclude[kBlockSize];
  s = exclude_->ReadGroup(device_, group, exclude);
  if (!s.ok()) {
    return s.WithContext(name() + ": exclude bitmap of group " + Num(group));
  }
  for (uint32_t i = 0; i < kBlockSize; ++i) {
    out[i] = static_cast<uint8_t>(out[i] & ~exclude[i]);
  }
  return Status::OK();
}

Status ReadThroughFile::ReadBlocks(uint64_t first, uint64_t count,
                                   uint8_t* out) const {
  if (first > image_blocks_ || count > image_blocks_ - first) {
    return Status::InvalidArgument(name() + ": read of blocks " + Num(first) +
                                   "+" + Num(count) + ": past the image's " +
                                   Num(image_blocks_) + " blocks");
  }
  const uint64_t end = first + count;
  uint64_t b = first;
  while (b < end) {
    Source s = Resolve(b, end - b);
    uint8_t* dst = out + (b - first) * kBlockSize;
    if (s.kind == Source::kBlockBitmap) {
      E2Q_RETURN_IF_ERROR(SynthesizeBitmap(s.group, dst));
      b += 1;
      continue;
    }
    if (s.kind == Source::kZero) {
      std::memset(dst, 0, kBlockSize);
      b += 1;
      continue;
    }
    // A device run: extend it while the next blocks continue it on the
    // device, whichever layer (or the live filesystem) they come from.
    uint64_t physical = s.physical;
    uint64_t n = s.count;
    while (b + n < end) {
      Source next = Resolve(b + n, end - b - n);
      if ((next.kind != Source::kLayer && next.kind != Source::kLive) ||
          next.physical != physical + n) {
        break;
      }
      n += next.count;
    }
    E2Q_RETURN_IF_ERROR(ReadDevice(b, physical, n, dst));
    b += n;
  }
  return Status::OK();
}

Result<size_t> ReadThroughFile::ReadSome(uint64_t offset, void* buf,
                                         size_t len) {
  const uint64_t size = image_blocks_ * kBlockSize;
  if (offset >= size || len == 0) return size_t{0};
  len = static_cast<size_t>(std::min<uint64_t>(len, size - offset));
  if (offset % kBlockSize == 0 && len % kBlockSize == 0) {
    E2Q_RETURN_IF_ERROR(ReadBlocks(offset / kBlockSize, len / kBlockSize,
                                   static_cast<uint8_t*>(buf)));
    return len;
  }
  // Unaligned (libext2fs reads the superblock as 1024 bytes at 1024):
  // whole blocks through a bounce buffer.
  const uint64_t first = offset / kBlockSize;
  const uint64_t last = (offset + len - 1) / kBlockSize;
  std::vector<uint8_t> tmp((last - first + 1) * kBlockSize);
  E2Q_RETURN_IF_ERROR(ReadBlocks(first, last - first + 1, tmp.data()));
  std::memcpy(buf, tmp.data() + (offset - first * kBlockSize), len);
  return len;
}

Status ReadThroughFile::WriteAt(uint64_t, const void*, size_t) {
  return Status::NotSupported(name() +
                              ": write: snapshot images are read-only");
}

Status ReadThroughFile::Truncate(uint64_t) {
  return Status::NotSupported(name() +
                              ": truncate: snapshot images are read-only");
}

}  // namespace e2q::snapshot
