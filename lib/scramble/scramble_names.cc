// NameGenerator: counters written in a per-tier alphabet.
#include "lib/scramble/scramble_names.h"

namespace e2q::scramble {

namespace {

constexpr std::string_view kAlnum =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr std::string_view kAlnumFolded =
    "0123456789abcdefghijklmnopqrstuvwxyz";
constexpr size_t kMaxNameLen = 255;

// Every byte a name may hold.  Casefolded directories get ASCII only, so
// that no generated name is invalid UTF-8 under a strict encoding, and no
// upper-case letters, so that no two generated names fold together.
std::string WideAlphabet(bool casefold) {
  std::string a;
  int top = casefold ? 0x7f : 0xff;
  for (int c = 1; c <= top; ++c) {
    if (c == '/') continue;
    if (casefold && c >= 'A' && c <= 'Z') continue;
    a.push_back(static_cast<char>(c));
  }
  return a;
}

// alphabet_size ** length, or UINT64_MAX when that does not fit.
uint64_t Capacity(size_t alphabet_size, size_t length) {
  uint64_t cap = 1;
  for (size_t i = 0; i < length; ++i) {
    if (cap > UINT64_MAX / alphabet_size) return UINT64_MAX;
    cap *= alphabet_size;
  }
  return cap;
}

// `counter` written in base alphabet.size(), most significant digit first,
// padded to `length` with the alphabet's first symbol.
std::string Spell(uint64_t counter, size_t length, std::string_view alphabet) {
  std::string s(length, alphabet[0]);
  for (size_t i = length; i > 0 && counter != 0; --i) {
    s[i - 1] = alphabet[counter % alphabet.size()];
    counter /= alphabet.size();
  }
  return s;
}

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// FNV-1a: a digest input, not a security measure.
uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

std::string NameGenerator::Key(std::string_view name) const {
  std::string k(name);
  if (casefold_) {
    for (char& c : k) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return k;
}

void NameGenerator::AddOriginal(std::string_view name) {
  std::string key = Key(name);
  uint64_t h = Fnv1a(key);
  // A sum, so that the digest does not depend on the order of the records.
  if (originals_.insert(std::move(key)).second) digest_ += SplitMix64(&h);
}

void NameGenerator::Reserve(std::string_view name) { taken_.insert(Key(name)); }

uint64_t NameGenerator::Random() {
  if (!started_) {
    stream_ = seed_ * 0x9e3779b97f4a7c15ULL ^ digest_;
    started_ = true;
  }
  return SplitMix64(&stream_);
}

bool NameGenerator::Free(const std::string& name, int tier) const {
  if (name == "." || name == "..") return false;
  std::string key = Key(name);
  if (taken_.count(key) != 0) return false;
  return tier == 2 || originals_.count(key) == 0;
}

Result<std::string> NameGenerator::Next(size_t length) {
  if (length == 0 || length > kMaxNameLen) {
    return Status::InvalidArgument("scramble: name length " +
                                   std::to_string(length) + " out of range");
  }
  static const std::string kWide = WideAlphabet(false);
  static const std::string kWideFolded = WideAlphabet(true);
  constexpr int kRandomDraws = 64;
  constexpr uint64_t kMaxScan = uint64_t{1} << 32;
  int& tier = tier_[length];
  for (; tier < 3; ++tier) {
    std::string_view alphabet =
        tier == 0 ? (casefold_ ? kAlnumFolded : kAlnum)
                  : std::string_view(casefold_ ? kWideFolded : kWide);
    const uint64_t cap = Capacity(alphabet.size(), length);
    // Random draws find a free name at once unless the tier is nearly full,
    // which only short names in crowded directories reach.  A tier too big
    // to enumerate cannot be nearly full: draw longer there.
    std::string name(length, '\0');
    const uint64_t draws = cap > kMaxScan ? uint64_t{1} << 24 : kRandomDraws;
    for (uint64_t i = 0; i < draws; ++i) {
      for (char& c : name) c = alphabet[Random() % alphabet.size()];
      if (Free(name, tier)) {
        taken_.insert(Key(name));
        return name;
      }
    }
    // Every name of the tier from a random start: finds the last free ones,
    // or shows that the tier is exhausted.  (Quadratic if a directory held
    // nearly all 238328 three-byte names; no real directory does.)
    if (cap > kMaxScan) continue;
    const uint64_t start = Random() % cap;
    for (uint64_t i = 0; i < cap; ++i) {
      name = Spell((start + i) % cap, length, alphabet);
      if (Free(name, tier)) {
        taken_.insert(Key(name));
        return name;
      }
    }
  }
  return Status::Corruption("scramble: more names of length " +
                            std::to_string(length) +
                            " than a directory can hold");
}

std::string ScrambledSymlinkTarget(uint64_t seed, size_t length) {
  std::string s(length, '0');
  uint64_t state = seed;
  for (size_t i = 0; i < length; ++i) {
    s[i] = kAlnum[SplitMix64(&state) % kAlnum.size()];
  }
  return s;
}

}  // namespace e2q::scramble
