// ForEachDirEntryInode: a minimal, bounds-checked directory block parser.
#include "lib/ext4_dir_refs.h"

#include <algorithm>

#include "lib/endian.h"

namespace e2q::ext4 {

namespace {

constexpr uint64_t kReadChunkBytes = 4 << 20;
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

void ForEachDirEntryInode(File* device, uint32_t block_size,
                          const BlockSet& dir_blocks,
                          const std::function<void(uint32_t ino)>& on_entry,
                          std::vector<std::string>* warnings) {
  const uint64_t chunk = std::max<uint64_t>(1, kReadChunkBytes / block_size);
  std::vector<uint8_t> buf;
  for (const BlockRun& run : dir_blocks.Runs()) {
    for (uint64_t b = 0; b < run.count; b += chunk) {
      const uint64_t n = std::min(chunk, run.count - b);
      buf.resize(n * block_size);
      const uint64_t first = run.start + b;
      size_t got = 0;
      while (got < buf.size()) {
        Result<size_t> r = device->ReadSome(first * block_size + got,
                                            buf.data() + got, buf.size() - got);
        if (!r.ok() || *r == 0) {
          warnings->push_back("directory block " +
                              std::to_string(first + got / block_size) + ": " +
                              (r.ok()
                                   ? std::string("past the end of the device")
                                   : r.status().message()));
          break;
        }
        got += *r;
      }
      for (uint64_t i = 0; i < got / block_size; ++i) {
        ForEachEntryInBlock(buf.data() + i * block_size, block_size, on_entry);
      }
    }
  }
}

}  // namespace e2q::ext4
