// Fuzz target: the export path on a damaged filesystem image.  Opens the
// input as an ext2/3/4 filesystem in memory (Filesystem::Open, backup
// superblock fallback included) and exports it through the product's
// engine, as a scrambled metadata image (-s) and as a full image (-a), each
// into a qcow2 image in memory.  The image must then open with
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
#include "lib/image/export.h"
#include "lib/io/file.h"
#include "lib/qcow2/qcow2_reader.h"

namespace {

using e2q::io::MemFile;

void Check(bool ok) {
  if (!ok) std::abort();
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

// Exports through the product's engine (lib/image/export.h): a metadata
// image scrambled as -s does (unscrambled where the scrambler refuses the
// input), or a full image, which must hold every selected block verbatim.
void Export(MemFile* device, const e2q::ext4::Filesystem& fs, bool all_data) {
  e2q::image::PlanOptions po;
  po.all_data = all_data;
  po.scramble = !all_data;
  po.threads = 1;
  auto plan = e2q::image::PlanExport(fs, device->name(), po);
  if (!plan.ok() && po.scramble) {
    po.scramble = false;
    plan = e2q::image::PlanExport(fs, device->name(), po);
  }
  if (!plan.ok()) return;
  for (const e2q::BlockRun& r : plan->blocks.Runs()) {
    Check(r.count > 0 && r.start + r.count <= fs.blocks_count());
  }
  MemFile out("out.qcow2");
  e2q::image::WriteOptions wo;
  wo.all_data = all_data;
  wo.scramble = po.scramble;
  auto report =
      e2q::image::WriteExport(*plan, fs, device, device->name(), &out, wo);
  if (po.scramble && !report.ok()) return;
  Check(report.ok());
  if (!po.scramble) {
    VerifyCopy(device, plan->blocks, fs.block_size(), std::move(out.data()));
  }
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
