// The JSON forms of --info and --verify.  Fields that qemu-img info
// --output=json shows carry its key names and sit where it puts them
// (qemu-img 7.2, block/qapi.c and qcow2's ImageInfoSpecificQCow2); the
// e2qimage parts ("clusters", "backing-chain", "provenance") use keys of
// their own in the same kebab-case.
#include <string>

#include "e2qimage/info_facts.h"
#include "e2qimage/json_writer.h"

namespace e2q::cli {

namespace {

void IdArray(JsonWriter* w, const std::vector<uint32_t>& ids) {
  w->BeginArray();
  for (uint32_t id : ids) w->Uint(id);
  w->EndArray();
}

void Snapshots(JsonWriter* w, const std::vector<qcow2::SnapshotEntry>& snaps) {
  constexpr uint64_t kNs = 1000000000;
  w->BeginArray();
  for (const qcow2::SnapshotEntry& s : snaps) {
    w->BeginObject();
    if (s.icount != qcow2::kNoIcount) w->Key("icount").Uint(s.icount);
    w->Key("vm-clock-nsec").Uint(s.vm_clock_nsec % kNs);
    w->Key("name").String(s.name);
    w->Key("date-sec").Uint(s.date_sec);
    w->Key("date-nsec").Uint(s.date_nsec);
    w->Key("vm-clock-sec").Uint(s.vm_clock_nsec / kNs);
    w->Key("id").String(s.id_str);
    w->Key("vm-state-size").Uint(s.vm_state_size);
    // Not in qemu-img info: the guest size recorded with the snapshot.
    w->Key("disk-size").Uint(s.disk_size);
    w->EndObject();
  }
  w->EndArray();
}

void FormatSpecific(JsonWriter* w, const InfoFacts& f) {
  const qcow2::HeaderInfo& hi = f.header_info;
  const bool v3 = f.header.version >= 3;
  w->BeginObject();
  w->Key("type").String("qcow2");
  w->Key("data").BeginObject();
  w->Key("compat").String(hi.compat);
  w->Key("compression-type").String(hi.compression_type);
  if (v3) w->Key("lazy-refcounts").Bool(hi.lazy_refcounts);
  w->Key("refcount-bits").Uint(hi.refcount_bits);
  if (hi.has_data_file) {
    if (!hi.data_file.empty()) w->Key("data-file").String(hi.data_file);
    w->Key("data-file-raw").Bool(hi.data_file_raw);
  }
  if (!hi.encryption.empty()) {
    w->Key("encrypt").BeginObject();
    w->Key("format").String(hi.encryption);
    w->EndObject();
  }
  if (v3) {
    w->Key("corrupt").Bool(hi.corrupt);
    w->Key("extended-l2").Bool(hi.extended_l2);
  }
  w->EndObject();
  w->EndObject();
}

void ProvenanceObject(JsonWriter* w, const image::Provenance& p) {
  const bool known = p.block_size != 0;
  w->BeginObject();
  w->Key("record-version").Uint(image::Provenance::kVersion);
  w->Key("kind").String(image::ImageKindName(p.kind));
  if (known) {
    w->Key("filesystem-uuid").String(image::FormatUuid(p.fs_uuid));
  } else {
    w->Key("filesystem-uuid").Null();
  }
  w->Key("filesystem-label").String(p.label);
  if (known) {
    w->Key("filesystem-blocks").Uint(p.blocks_count);
    w->Key("filesystem-block-size").Uint(p.block_size);
  } else {
    w->Key("filesystem-blocks").Null();
    w->Key("filesystem-block-size").Null();
  }
  w->Key("all-data").Bool(p.flags & image::Provenance::kFlagAllData);
  w->Key("scrambled").Bool(p.flags & image::Provenance::kFlagScrambled);
  w->Key("live").Bool(p.flags & image::Provenance::kFlagLive);
  w->Key("snapshot-ids");
  IdArray(w, p.snapshot_ids);
  if (p.kind == image::ImageKind::kIncremental) {
    w->Key("base-digest").String(DigestText(p.base_digest));
    w->Key("base-snapshot-ids");
    IdArray(w, p.base_snapshot_ids);
  }
  w->Key("created").Int(p.created);
  w->Key("e2qimage-version").String(p.tool_version);
  w->Key("digest").String(DigestText(p.digest));
  w->EndObject();
}

}  // namespace

std::string InfoJson(const InfoFacts& f) {
  const qcow2::Header& h = f.header;
  const qcow2::Qcow2Reader::ClusterCounts& c = f.clusters;
  JsonWriter w;
  w.BeginObject();
  if (!f.snapshots.empty()) {
    w.Key("snapshots");
    Snapshots(&w, f.snapshots);
  }
  w.Key("virtual-size").Uint(h.size);
  w.Key("filename").String(f.path);
  w.Key("cluster-size").Uint(h.cluster_size());
  w.Key("format").String("qcow2");
  w.Key("actual-size").Uint(f.actual_size);
  if (!f.header_info.encryption.empty()) w.Key("encrypted").Bool(true);
  if (!h.backing_file.empty()) {
    w.Key("backing-filename").String(h.backing_file);
    if (!f.backing_chain.empty()) {
      w.Key("full-backing-filename").String(f.backing_chain[0].opened_as);
    }
    if (!f.header_info.backing_format.empty()) {
      w.Key("backing-filename-format").String(f.header_info.backing_format);
    }
  }
  w.Key("format-specific");
  FormatSpecific(&w, f);
  w.Key("dirty-flag").Bool(f.header_info.dirty);
  // e2qimage's own parts.
  w.Key("clusters").BeginObject();
  w.Key("total").Uint(c.total);
  w.Key("allocated").Uint(c.data + c.compressed);
  w.Key("compressed").Uint(c.compressed);
  w.Key("zero").Uint(c.zero);
  w.EndObject();
  if (!h.backing_file.empty()) {
    if (!f.backing_error.empty()) {
      w.Key("backing-error").String(f.backing_error);
    }
    w.Key("backing-chain").BeginArray();
    for (const BackingLink& b : f.backing_chain) {
      w.BeginObject();
      w.Key("backing-filename").String(b.name);
      w.Key("format").String(b.format);
      w.Key("opened-as").String(b.opened_as);
      w.EndObject();
    }
    w.EndArray();
  }
  if (f.provenance) {
    w.Key("provenance");
    ProvenanceObject(&w, *f.provenance);
  } else {
    w.Key("provenance").Null();
  }
  if (f.base_guard) {
    const image::BaseGuard& g = *f.base_guard;
    w.Key("base-guard").BeginObject();
    w.Key("clusters").Uint(g.clusters);
    w.Key("digest").String(DigestText(g.replaced));
    w.Key("superblock-digest").String(DigestText(g.superblock));
    w.Key("mount-count").Uint(g.mnt_count);
    w.Key("last-mounted").Int(g.mtime);
    w.Key("last-written").Int(g.wtime);
    w.EndObject();
  }
  w.EndObject();
  return w.text();
}

std::string VerifyJson(const VerifyResult& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("filename").String(r.path);
  w.Key("result").String(r.match ? "ok" : "mismatch");
  w.Key("recorded-digest").String(DigestText(r.recorded));
  w.Key("computed-digest").String(DigestText(r.computed));
  w.EndObject();
  return w.text();
}

}  // namespace e2q::cli
