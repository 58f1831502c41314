// JsonWriter and the string escaping rule (json_writer.h).
#include "e2qimage/json_writer.h"

#include <cstdio>

namespace e2q::cli {

namespace {

// Length of the well-formed UTF-8 sequence at s[i] (shortest form, no
// surrogates, at most U+10FFFF), or 0 if there is none.
size_t Utf8Length(const std::string& s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xbf) return 0;
  }
  return n;
}

}  // namespace

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = Utf8Length(s, i);
      if (n == 0) {
        out += "\xef\xbf\xbd";  // U+FFFD for one stray byte
        ++i;
      } else {
        out.append(s, i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  return out + "\"";
}

void JsonWriter::Prefix() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (has_members_.empty()) return;
  if (has_members_.back()) out_ += ",";
  has_members_.back() = true;
  out_ += "\n";
  out_.append(4 * has_members_.size(), ' ');
}

void JsonWriter::Scalar(const std::string& literal) {
  Prefix();
  out_ += literal;
}

JsonWriter& JsonWriter::Key(const std::string& key) {
  Prefix();
  out_ += JsonString(key) + ": ";
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::BeginObject() {
  Prefix();
  out_ += "{";
  has_members_.push_back(false);
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  Prefix();
  out_ += "[";
  has_members_.push_back(false);
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  const bool had = has_members_.back();
  has_members_.pop_back();
  if (had) {
    out_ += "\n";
    out_.append(4 * has_members_.size(), ' ');
  }
  out_ += "}";
  if (has_members_.empty()) out_ += "\n";
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  const bool had = has_members_.back();
  has_members_.pop_back();
  if (had) {
    out_ += "\n";
    out_.append(4 * has_members_.size(), ' ');
  }
  out_ += "]";
  if (has_members_.empty()) out_ += "\n";
  return *this;
}

JsonWriter& JsonWriter::String(const std::string& s) {
  Scalar(JsonString(s));
  return *this;
}

JsonWriter& JsonWriter::Uint(uint64_t v) {
  Scalar(std::to_string(v));
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t v) {
  Scalar(std::to_string(v));
  return *this;
}

JsonWriter& JsonWriter::Bool(bool v) {
  Scalar(v ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::Null() {
  Scalar("null");
  return *this;
}

}  // namespace e2q::cli
