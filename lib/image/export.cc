// The export engine (see export.h): plan, then sinks and copy.
#include "lib/image/export.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include "lib/ext4/ext4_select.h"
#include "lib/image/backing_base.h"
#include "lib/image/base_content.h"
#include "lib/image/base_guard.h"
#include "lib/image/provenance.h"
#include "lib/image/stamp.h"
#include "lib/qcow2/qcow2_format.h"
#include "lib/qcow2/qcow2_reader.h"
#include "lib/qcow2/qcow2_writer.h"

namespace e2q::image {

namespace {

uint32_t Log2(uint64_t v) {
  uint32_t b = 0;
  while ((uint64_t{1} << b) < v) ++b;
  return b;
}

// The provenance record of an export of `fs` as `o` describes it.
Provenance ExportRecord(const ext4::Filesystem& fs, const WriteOptions& o) {
  Provenance record =
      NewProvenance(o.all_data ? ImageKind::kFull : ImageKind::kMetadata,
                    fs.byte_size(), o.created);
  record.flags = o.snapshot_id ? 0 : Provenance::kFlagLive;
  if (o.snapshot_id) {
    record.kind = ImageKind::kSnapshot;
    record.snapshot_ids = {*o.snapshot_id};
  }
  if (o.all_data) record.flags |= Provenance::kFlagAllData;
  if (o.scramble) record.flags |= Provenance::kFlagScrambled;
  record.fs_uuid = fs.uuid();
  record.label = fs.label();
  record.block_size = fs.block_size();
  record.blocks_count = fs.blocks_count();
  return record;
}

}  // namespace

Result<ExportPlan> PlanExport(const ext4::Filesystem& fs,
                              const std::string& source,
                              const PlanOptions& options) {
  ExportPlan plan;
  ext4::SelectOptions so;
  so.all_data = options.all_data;
  so.backup_superblock = options.backup_superblock;
  so.threads = options.threads;
  so.defer_dir_refs = options.defer_dir_refs;
  E2Q_ASSIGN_OR_RETURN(ext4::Selection selection, ext4::SelectBlocks(fs, so));
  plan.blocks = std::move(selection.blocks);
  plan.skipped_refs = std::move(selection.skipped_refs);
  plan.threads = options.threads;
  for (auto& w : selection.warnings) plan.warnings.push_back({source, w});
  if (options.scramble) {
    E2Q_ASSIGN_OR_RETURN(plan.scrambler, scramble::Scrambler::Create(fs));
    for (const auto& w : plan.scrambler->warnings()) {
      plan.warnings.push_back({source, "-s: " + w});
    }
  }
  plan.block_size = fs.block_size();
  plan.byte_size = fs.byte_size();
  return plan;
}

namespace {

Result<CopyStats> CopyBlocksOf(const ExportPlan& plan, const BlockSet& blocks,
                               io::File* source, ImageSink* sink,
                               const std::function<void(uint64_t)>& progress,
                               const ext4::SkippedRefs* refs, BlockSet* found) {
  CopyOptions co;
  co.block_size = plan.block_size;
  E2Q_ASSIGN_OR_RETURN(co.source_size, source->Size());
  co.progress = progress;
  if (plan.scrambler) {
    const scramble::Scrambler* s = plan.scrambler.get();
    co.transform = [s](uint64_t first, uint64_t count, uint8_t* data) {
      return s->Apply(first, count, data);
    };
  }
  std::mutex mu;
  if (refs != nullptr) {
    co.inspect = [refs, found, &mu](uint64_t first, uint64_t count,
                                    const uint8_t* data) {
      BlockSet here;
      refs->Inspect(first, count, data, &here);
      if (here.empty()) return;
      std::lock_guard<std::mutex> lock(mu);
      found->Add(here);
    };
  }
  return CopyBlocks(source, blocks, sink, co);
}

}  // namespace

Result<CopyStats> CopyPlan(const ExportPlan& plan, io::File* source,
                           ImageSink* sink,
                           const std::function<void(uint64_t)>& progress) {
  return CopyBlocksOf(plan, plan.blocks, source, sink, progress, nullptr,
                      nullptr);
}

Result<std::unique_ptr<qcow2::ClusterCompressor>> NewCompressor(
    const CompressOptions& o, uint32_t cluster_bits,
    const std::function<Status(uint8_t)>& set_type) {
  if (!o.level) return std::unique_ptr<qcow2::ClusterCompressor>();
  auto algo = qcow2::ClusterCompressor::Algorithm::kDeflate;
  if (o.zstd) {
    if (!qcow2::ZstdAvailable()) {
      return Status::NotSupported(
          "--compress=zstd: this e2qimage was built without libzstd");
    }
    algo = qcow2::ClusterCompressor::Algorithm::kZstd;
    E2Q_RETURN_IF_ERROR(set_type(qcow2::kCompressionZstd));
  }
  return qcow2::ClusterCompressor::Create(algo, *o.level, o.threads,
                                          cluster_bits);
}

Result<uint32_t> ClusterBitsFor(uint64_t virtual_size, uint32_t preferred_bits,
                                std::optional<uint64_t> requested_bytes) {
  std::optional<uint32_t> requested;
  if (requested_bytes) requested = Log2(*requested_bytes);
  auto bits = qcow2::ChooseClusterBits(virtual_size, preferred_bits, requested);
  if (!bits.ok()) {
    return bits.status().WithContext("--cluster-size=" +
                                     std::to_string(*requested_bytes));
  }
  return bits;
}

uint32_t ExportPreferredBits(uint32_t block_size, bool all_data,
                             uint64_t virtual_size, bool meta_bg) {
  if (all_data) return qcow2::kDefaultClusterBits;
  uint32_t bits = Log2(block_size);
  while (!meta_bg && bits < qcow2::kDefaultClusterBits &&
         qcow2::L1Entries(virtual_size, bits) * 8 > kMetadataL1Budget) {
    ++bits;
  }
  return bits;
}

namespace {

// One image of `blocks` into `out`; `refs`, if set, is shown the directory
// blocks the copy reads and adds what it finds to `found`.
Result<ExportReport> WriteOnce(const ExportPlan& plan, const BlockSet& blocks,
                               const ext4::Filesystem& fs, io::File* source,
                               const std::string& source_name, io::File* out,
                               const WriteOptions& o,
                               const ext4::SkippedRefs* refs, BlockSet* found) {
  ExportReport report;
  const uint64_t size = plan.byte_size;
  const uint32_t bs = plan.block_size;
  std::unique_ptr<qcow2::Qcow2Writer> writer;
  std::unique_ptr<qcow2::ClusterCompressor> compressor;
  std::unique_ptr<qcow2::Qcow2Reader> base_reader;
  std::unique_ptr<BaseContent> base;
  std::unique_ptr<ReplacedDigest> replaced;
  BaseGuard guard;
  IncrementalHooks hooks;
  std::unique_ptr<ImageSink> qcow2_sink;
  std::unique_ptr<ImageSink> sink;
  if (o.qcow2) {
    E2Q_ASSIGN_OR_RETURN(
        report.cluster_bits,
        ClusterBitsFor(size,
                       ExportPreferredBits(bs, o.all_data, size, fs.meta_bg()),
                       o.cluster_size));
    Provenance record = ExportRecord(fs, o);
    qcow2::WriterOptions wo;
    wo.version = o.qcow2_version;
    wo.cluster_bits = report.cluster_bits;
    wo.virtual_size = size;
    wo.share_identical = o.share_identical;
    wo.snapshot_date_sec = static_cast<uint32_t>(o.created);
    if (!o.backing.empty()) {
      BaseExpectation want;
      want.fs_uuid = fs.uuid();
      want.fs_name = fs.name();
      want.snapshot_id = o.base_snapshot_id;
      E2Q_ASSIGN_OR_RETURN(base_reader,
                           OpenBase(o.image_path, o.backing, want, &record));
      base =
          std::make_unique<BaseContent>(base_reader.get(), report.cluster_bits);
      wo.backing_file = o.backing;
      wo.backing_format = "qcow2";
      // The base guard: the base's superblock now, the digest of what the
      // increment replaces when it is done (base_guard.h).
      guard.cluster_bits = report.cluster_bits;
      if (base_reader->virtual_size() >= 2048) {
        uint8_t sb[1024];
        E2Q_RETURN_IF_ERROR(base_reader->Read(1024, sb, sizeof sb));
        SetGuardSuperblock(sb, &guard);
      }
      replaced = std::make_unique<ReplacedDigest>(report.cluster_bits);
      wo.extensions.push_back({kExtE2qBaseGuard, guard.Encode()});
    }
    ReserveProvenance(record, &wo);
    E2Q_ASSIGN_OR_RETURN(writer, qcow2::Qcow2Writer::Create(out, wo));
    qcow2::Qcow2Writer* w = writer.get();
    if (replaced) {
      hooks.replaced = replaced.get();
      hooks.before_finish = [w, &guard, &replaced]() {
        guard.clusters = replaced->clusters();
        guard.replaced = replaced->Final();
        return w->SetExtension(kExtE2qBaseGuard, guard.Encode());
      };
    }
    E2Q_ASSIGN_OR_RETURN(
        compressor,
        NewCompressor(o.compress, report.cluster_bits, [w](uint8_t type) {
          return w->SetCompressionType(type);
        }));
    qcow2_sink =
        NewQcow2Sink(writer.get(), compressor.get(), base.get(), hooks);
    E2Q_ASSIGN_OR_RETURN(sink, NewStampingSink(qcow2_sink.get(), writer.get(),
                                               std::move(record)));
  } else {
    sink = NewRawSink(out, size, o.sparse, std::max(bs, 4096u));
  }
  E2Q_ASSIGN_OR_RETURN(
      report.stats,
      CopyBlocksOf(plan, blocks, source, sink.get(), o.progress, refs, found));
  if (report.stats.blocks_past_source_end > 0) {
    report.warnings.push_back(
        {source_name, std::to_string(report.stats.blocks_past_source_end) +
                          " selected blocks lie past the end of the device "
                          "and were imaged as zeros"});
  }
  return report;
}

// The directory blocks of `refs` that a copy of `blocks` from a source of
// `source_blocks` blocks does not read.
BlockSet DirsNotCopied(const ext4::SkippedRefs& refs, const BlockSet& blocks,
                       uint64_t source_blocks) {
  BlockSet left;
  for (const BlockRun& r : refs.dirs().Runs()) {
    for (uint64_t b = r.start; b < r.start + r.count; ++b) {
      if (b >= source_blocks || !blocks.Contains(b)) left.Add(b);
    }
  }
  return left;
}

bool AllIn(const BlockSet& some, const BlockSet& all) {
  for (const BlockRun& r : some.Runs()) {
    for (uint64_t b = r.start; b < r.start + r.count; ++b) {
      if (!all.Contains(b)) return false;
    }
  }
  return true;
}

}  // namespace

Result<ExportReport> WriteExport(const ExportPlan& plan,
                                 const ext4::Filesystem& fs, io::File* source,
                                 const std::string& source_name, io::File* out,
                                 const WriteOptions& o) {
  const ext4::SkippedRefs* refs = plan.skipped_refs.get();
  if (refs == nullptr) {
    return WriteOnce(plan, plan.blocks, fs, source, source_name, out, o,
                     nullptr, nullptr);
  }
  std::vector<Warning> pass_warnings;
  BlockSet found;
  auto read_pass = [&](const BlockSet& which) {
    std::vector<std::string> lines;
    refs->ReadAndInspect(source, which, plan.threads, &found, &lines);
    for (std::string& w : lines) pass_warnings.push_back({source_name, w});
  };
  auto with_pass_warnings = [&](ExportReport report) {
    report.warnings.insert(report.warnings.begin(), pass_warnings.begin(),
                           pass_warnings.end());
    return report;
  };
  auto widened = [&] {
    BlockSet blocks = plan.blocks;
    blocks.Add(refs->Widen(found));
    return blocks;
  };
  if (!o.rewritable) {
    // Written once: the pass first, as SelectBlocks makes it.
    read_pass(refs->dirs());
    E2Q_ASSIGN_OR_RETURN(ExportReport report,
                         WriteOnce(plan, widened(), fs, source, source_name,
                                   out, o, nullptr, nullptr));
    return with_pass_warnings(std::move(report));
  }
  BlockSet seen;
  E2Q_ASSIGN_OR_RETURN(ExportReport report,
                       WriteOnce(plan, plan.blocks, fs, source, source_name,
                                 out, o, refs, &seen));
  found.Add(seen);
  // Directory blocks the copy did not read (outside the selection, or
  // past the end of the source) are read here, for their entries and for
  // the warnings they give.
  E2Q_ASSIGN_OR_RETURN(const uint64_t source_size, source->Size());
  read_pass(DirsNotCopied(*refs, plan.blocks, source_size / plan.block_size));
  if (AllIn(refs->Widen(found), plan.blocks)) {
    return with_pass_warnings(std::move(report));
  }
  // An entry names an inode the scan skipped (the filesystem is damaged):
  // its inode table block belongs in the image.  Written again, with it.
  E2Q_RETURN_IF_ERROR(out->Truncate(0));
  E2Q_ASSIGN_OR_RETURN(
      report, WriteOnce(plan, widened(), fs, source, source_name, out, o,
                        nullptr, nullptr));
  return with_pass_warnings(std::move(report));
}

}  // namespace e2q::image
