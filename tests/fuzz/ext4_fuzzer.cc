// Fuzz target: the export path on a damaged filesystem image.  Opens the
// input as an ext2/3/4 filesystem in memory (Filesystem::Open, backup
// superblock fallback included), selects blocks for a metadata image with
// -s's scrambler as transform and for a full image (-a), and copies each
// selection into a qcow2 image in memory.  The image must then open with
// Qcow2Reader, and the full image must hold every selected block verbatim
// (zeros past the end of the input).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "lib/ext4/ext2_fs.h"
#include "lib/ext4/ext4_select.h"
#include "lib/image/copy_pipeline.h"
#include "lib/image/image_sink.h"
#include "lib/io/file.h"
#include "lib/qcow2/qcow2_reader.h"
#include "lib/qcow2/qcow2_writer.h"
#include "lib/scramble/scramble.h"

namespace {

using e2q::io::MemFile;

void Check(bool ok) {
  if (!ok) std::abort();
}

// The smallest cluster size that holds a block and keeps the L1 table
// within qemu's limit (the CLI's rule for metadata images).
uint32_t ClusterBits(uint64_t virtual_size, uint32_t block_size) {
  uint32_t bits = e2q::qcow2::kMinClusterBits;
  while ((uint64_t{1} << bits) < block_size) ++bits;
  for (; bits < e2q::qcow2::kMaxClusterBits; ++bits) {
    const uint64_t per_l1 = uint64_t{1} << (2 * bits - 3);
    if ((virtual_size + per_l1 - 1) / per_l1 * 8 <= e2q::qcow2::kMaxL1Bytes) {
      break;
    }
  }
  return bits;
}

// Checks that the selected blocks read back from `image` as they are on
// `device`, up to a few MiB of them.
void VerifyCopy(MemFile* device, const e2q::BlockSet& blocks, uint32_t bs,
                std::vector<uint8_t> image) {
  auto reader = e2q::qcow2::Qcow2Reader::Open(
      std::make_unique<MemFile>("out.qcow2", std::move(image)));
  Check(reader.ok());
  uint64_t budget = 4u << 20;
  std::vector<uint8_t> want(bs), got(bs);
  for (const e2q::BlockRun& run : blocks.Runs()) {
    for (uint64_t b = run.start; b < run.start + run.count; ++b) {
      if (budget < bs) return;
      budget -= bs;
      std::fill(want.begin(), want.end(), 0);
      const uint64_t off = b * bs;
      if (off < device->data().size()) {
        const size_t n = std::min<uint64_t>(bs, device->data().size() - off);
        std::memcpy(want.data(), device->data().data() + off, n);
      }
      Check((*reader)->Read(off, got.data(), bs).ok());
      Check(want == got);
    }
  }
}

void Export(MemFile* device, const e2q::ext4::Filesystem& fs, bool all_data) {
  e2q::ext4::SelectOptions so;
  so.all_data = all_data;
  so.threads = 1;
  auto sel = e2q::ext4::SelectBlocks(fs, so);
  if (!sel.ok()) return;
  const uint32_t bs = fs.block_size();
  for (const e2q::BlockRun& r : sel->blocks.Runs()) {
    Check(r.count > 0 && r.start + r.count <= fs.blocks_count());
  }
  std::unique_ptr<e2q::scramble::Scrambler> scrambler;
  if (!all_data) {
    auto s = e2q::scramble::Scrambler::Create(fs);
    if (s.ok()) scrambler = std::move(s).value();
  }
  MemFile out("out.qcow2");
  e2q::qcow2::WriterOptions wo;
  wo.cluster_bits = ClusterBits(fs.byte_size(), bs);
  wo.virtual_size = fs.byte_size();
  auto writer = e2q::qcow2::Qcow2Writer::Create(&out, wo);
  if (!writer.ok()) return;
  auto sink = e2q::image::NewQcow2Sink(writer->get(), nullptr);
  e2q::image::CopyOptions co;
  co.block_size = bs;
  co.source_size = device->data().size();
  if (scrambler) {
    co.transform = [&](uint64_t first, uint64_t count, uint8_t* data) {
      return scrambler->Apply(first, count, data);
    };
  }
  auto copied = e2q::image::CopyBlocks(device, sel->blocks, sink.get(), co);
  if (scrambler && !copied.ok()) return;
  Check(copied.ok());
  if (!scrambler) VerifyCopy(device, sel->blocks, bs, std::move(out.data()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  MemFile device("fuzz.img", std::vector<uint8_t>(data, data + size));
  auto fs = e2q::ext4::Filesystem::Open(&device, {});
  if (!fs.ok()) return 0;
  Export(&device, **fs, /*all_data=*/false);
  Export(&device, **fs, /*all_data=*/true);
  return 0;
}
