// ForEachDirEntryInode: a minimal, bounds-checked directory block parser.
#include "lib/ext4/ext4_dir_refs.h"

#include <algorithm>

#include "lib/base/endian.h"
#include "lib/io/aligned_buffer.h"

namespace e2q::ext4 {

namespace {

constexpr uint64_t kReadChunkBytes = 1 << 20;
// Directory runs closer than this are read together, gap included.
constexpr uint64_t kMaxGapBytes = 16 << 10;
constexpr uint32_t kDirentHeaderSize = 8;  // inode, rec_len, name_len, type
constexpr uint32_t kMaxRecLen = 65535;     // "whole 64 KiB block"

}  // namespace

void ForEachEntryInBlock(const uint8_t* block, uint32_t block_size,
                         const std::function<void(uint32_t ino)>& on_entry) {
  uint32_t off = 0;
  while (off + kDirentHeaderSize <= block_size) {
    const uint8_t* d = block + off;
    const uint32_t ino = LoadLE32(d);
    const uint32_t raw = LoadLE16(d + 4);
    const uint32_t name_len = d[6];
    // ext2fs_get_rec_len(): the two low bits extend the length for 256 KiB
    // blocks; 0 and 65535 mean the whole block.
    const uint32_t rec_len = (raw == kMaxRecLen || raw == 0)
                                 ? block_size
                                 : (raw & 65532) | ((raw & 3) << 16);
    if (rec_len < kDirentHeaderSize || rec_len % 4 != 0 ||
        rec_len > block_size - off) {
      return;
    }
    if (ino != 0 && name_len + kDirentHeaderSize <= rec_len) on_entry(ino);
    off += rec_len;
  }
}

void ForEachDirEntryInode(io::File* device, uint32_t block_size,
                          const BlockSet& dir_blocks,
                          const std::function<void(uint32_t ino)>& on_entry,
                          std::vector<std::string>* warnings) {
  if (block_size == 0) return;
  const uint64_t chunk = std::max<uint64_t>(1, kReadChunkBytes / block_size);
  const uint64_t max_gap = kMaxGapBytes / block_size;
  const std::vector<BlockRun> runs = dir_blocks.Runs();
  // One buffer for the whole walk: a buffer grown per read costs a fresh
  // mapping and its page faults every time.
  io::AlignedBytes buf = io::AllocateAligned(chunk * block_size);
  size_t i = 0;      // next run
  uint64_t done = 0;  // blocks of runs[i] already parsed
  while (i < runs.size()) {
    // A window: runs[i] (from `done`) and the following runs while the gap
    // to them is small and the window fits the buffer.  Gap blocks are read
    // and ignored; one read replaces many small ones.
    const uint64_t first = runs[i].start + done;
    uint64_t end = first + std::min(chunk, runs[i].count - done);
    size_t last = i;
    while (last + 1 < runs.size() && end == runs[last].start + runs[last].count &&
           runs[last + 1].start - end <= max_gap &&
           runs[last + 1].start + runs[last + 1].count - first <= chunk) {
      ++last;
      end = runs[last].start + runs[last].count;
    }
    const uint64_t want = (end - first) * block_size;
    uint64_t got = 0;
    while (got < want) {
      Result<size_t> r =
          device->ReadSome(first * block_size + got, buf.get() + got, want - got);
      if (!r.ok() || *r == 0) {
        warnings->push_back("directory block " +
                            std::to_string(first + got / block_size) + ": " +
                            (r.ok() ? std::string("past the end of the device")
                                    : r.status().message()));
        break;
      }
      got += *r;
    }
    const uint64_t readable_end = first + got / block_size;
    // Parse the blocks of the window's runs that were read.
    for (size_t k = i; k <= last; ++k) {
      const uint64_t from = k == i ? first : runs[k].start;
      const uint64_t to = std::min(runs[k].start + runs[k].count, end);
      for (uint64_t b = from; b < std::min(to, readable_end); ++b) {
        ForEachEntryInBlock(buf.get() + (b - first) * block_size, block_size,
                            on_entry);
      }
    }
    // Move on past the window (a short read skips the rest of it: the
    // unreadable blocks were reported above).
    if (last == i && end < runs[i].start + runs[i].count) {
      done = end - runs[i].start;
    } else {
      i = last + 1;
      done = 0;
    }
  }
}

}  // namespace e2q::ext4
