// The strict JSON subset reader of json.hpp: a recursive-descent parser over a string_view that
// checks every byte and throws ParseError with the byte position of the first problem.
#include "nn/json.hpp"

#include <cstdio>
#include <limits>
#include <unordered_set>

namespace ddpm::json {

namespace {

// Where the first byte that breaks UTF-8 is, or npos. Follows RFC 3629's table of well-formed
// sequences: the second byte's range depends on the first, which excludes overlong forms,
// surrogates (U+D800..U+DFFF) and code points above U+10FFFF.
size_t first_invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int length = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) lo = 0xA0;  // no overlong 3-byte forms
      if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) lo = 0x90;  // no overlong 4-byte forms
      if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
      return i;  // a continuation byte first, an overlong 2-byte lead (C0, C1) or F5..FF
    }
    if (i + length > s.size()) return i;
    for (int k = 1; k < length; ++k) {
      unsigned char b = static_cast<unsigned char>(s[i + k]);
      unsigned char min = k == 1 ? lo : 0x80, max = k == 1 ? hi : 0xBF;
      if (b < min || b > max) return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

void append_utf8(std::string& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out += char(code_point);
  } else if (code_point < 0x800) {
    out += char(0xC0 | (code_point >> 6));
    out += char(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += char(0xE0 | (code_point >> 12));
    out += char(0x80 | ((code_point >> 6) & 0x3F));
    out += char(0x80 | (code_point & 0x3F));
  } else {
    out += char(0xF0 | (code_point >> 18));
    out += char(0x80 | ((code_point >> 12) & 0x3F));
    out += char(0x80 | ((code_point >> 6) & 0x3F));
    out += char(0x80 | (code_point & 0x3F));
  }
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Value parse_document() {
    size_t bad = first_invalid_utf8(text_);
    if (bad != std::string_view::npos) fail_at(bad, "invalid UTF-8");
    skip_whitespace();
    Value value = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected " + describe_next() + " after the JSON value");
    return value;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;

  [[noreturn]] void fail_at(size_t pos, const std::string& what) const {
    throw ParseError("at byte " + std::to_string(pos) + ": " + what);
  }
  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  // The next character, for messages: 'x', byte 0x01, or the end of the text.
  std::string describe_next() const {
    if (at_end()) return "end of the text";
    unsigned char c = static_cast<unsigned char>(peek());
    if (c >= 0x20 && c < 0x7F) return std::string("'") + char(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
    return buf;
  }

  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }

  void expect(char c, const char* context) {
    if (at_end() || peek() != c) fail(std::string("expected '") + c + "' " + context + ", found " + describe_next());
    ++pos_;
  }

  Value parse_value(int depth) {
    if (at_end()) fail("expected a value, found the end of the text");
    char c = peek();
    if (c == '{' || c == '[') {
      if (depth >= kMaxDepth) fail("objects and arrays nest deeper than " + std::to_string(kMaxDepth));
      return c == '{' ? parse_object(depth + 1) : parse_array(depth + 1);
    }
    if (c == '"') {
      Value v;
      v.kind = Value::Kind::String;
      v.text = parse_string();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_integer();
    if (c == 't' || c == 'f' || c == 'n')
      fail("true, false and null are not supported here (only objects, arrays, strings and integers)");
    fail("expected a value, found " + describe_next());
  }

  Value parse_object(int depth) {
    Value obj;
    obj.kind = Value::Kind::Object;
    std::unordered_set<std::string> seen;
    expect('{', "to open an object");
    skip_whitespace();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return obj;
    }
    while (true) {
      skip_whitespace();
      size_t key_pos = pos_;
      if (at_end() || peek() != '"') fail("expected a string key in an object, found " + describe_next());
      std::string key = parse_string();
      if (!seen.insert(key).second) fail_at(key_pos, "duplicate key " + quote(key));
      skip_whitespace();
      expect(':', "after an object key");
      skip_whitespace();
      Value member = parse_value(depth);
      obj.members.emplace_back(std::move(key), std::move(member));
      skip_whitespace();
      if (!at_end() && peek() == ',') {
        ++pos_;
        continue;
      }
      expect('}', "or ',' in an object");
      return obj;
    }
  }

  Value parse_array(int depth) {
    Value arr;
    arr.kind = Value::Kind::Array;
    expect('[', "to open an array");
    skip_whitespace();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return arr;
    }
    while (true) {
      skip_whitespace();
      arr.items.push_back(parse_value(depth));
      skip_whitespace();
      if (!at_end() && peek() == ',') {
        ++pos_;
        continue;
      }
      expect(']', "or ',' in an array");
      return arr;
    }
  }

  // -?(0|[1-9][0-9]*) that fits in int64; a fraction or an exponent is refused.
  Value parse_integer() {
    size_t start = pos_;
    bool negative = false;
    if (peek() == '-') {
      negative = true;
      ++pos_;
    }
    if (at_end() || peek() < '0' || peek() > '9') fail("expected a digit, found " + describe_next());
    if (peek() == '0' && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' && text_[pos_ + 1] <= '9')
      fail("numbers may not have leading zeros");
    // Accumulate the magnitude; -2^63 is the one value whose magnitude exceeds int64's maximum.
    const uint64_t limit = negative ? uint64_t(std::numeric_limits<int64_t>::max()) + 1
                                    : uint64_t(std::numeric_limits<int64_t>::max());
    uint64_t magnitude = 0;
    while (!at_end() && peek() >= '0' && peek() <= '9') {
      uint64_t digit = uint64_t(peek() - '0');
      if (magnitude > (limit - digit) / 10) fail_at(start, "integer does not fit in 64 bits");
      magnitude = magnitude * 10 + digit;
      ++pos_;
    }
    if (!at_end() && (peek() == '.' || peek() == 'e' || peek() == 'E'))
      fail_at(start, "only integers are supported here, not fractions or exponents");
    Value v;
    v.kind = Value::Kind::Integer;
    v.integer = negative ? int64_t(0 - magnitude) : int64_t(magnitude);
    return v;
  }

  uint32_t parse_hex4() {
    if (text_.size() - pos_ < 4) fail("\\u needs four hex digits");
    uint32_t value = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text_[pos_ + k];
      uint32_t digit;
      if (c >= '0' && c <= '9') digit = uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') digit = uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') digit = uint32_t(c - 'A' + 10);
      else fail_at(pos_ + k, "\\u needs four hex digits");
      value = value * 16 + digit;
    }
    pos_ += 4;
    return value;
  }

  // A string literal starting at the opening quote; returns its decoded UTF-8 text.
  std::string parse_string() {
    size_t start = pos_;
    expect('"', "to open a string");
    std::string out;
    while (true) {
      if (at_end()) fail_at(start, "unterminated string");
      unsigned char c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("control character " + describe_next() + " inside a string (it must be escaped)");
      if (c != '\\') {
        out += char(c);
        ++pos_;
        continue;
      }
      ++pos_;  // the backslash
      if (at_end()) fail_at(start, "unterminated string");
      char e = peek();
      ++pos_;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          size_t escape_pos = pos_ - 2;
          uint32_t code = parse_hex4();
          if (code >= 0xDC00 && code <= 0xDFFF) fail_at(escape_pos, "lone low surrogate in a \\u escape");
          if (code >= 0xD800 && code <= 0xDBFF) {
            // A high surrogate must be followed by an escaped low one: together one code point.
            if (text_.size() - pos_ < 2 || text_[pos_] != '\\' || text_[pos_ + 1] != 'u')
              fail_at(escape_pos, "high surrogate in a \\u escape without a low surrogate after it");
            pos_ += 2;
            uint32_t low = parse_hex4();
            if (low < 0xDC00 || low > 0xDFFF)
              fail_at(escape_pos, "high surrogate in a \\u escape without a low surrogate after it");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, code);
          break;
        }
        default:
          pos_ -= 1;
          fail("invalid escape \\" + describe_next());
      }
    }
  }
};

}  // namespace

const Value* Value::find(const std::string& key) const {
  for (const auto& [name, value] : members)
    if (name == key) return &value;
  return nullptr;
}

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::Object: return "object";
    case Value::Kind::Array: return "array";
    case Value::Kind::String: return "string";
    case Value::Kind::Integer: return "integer";
  }
  return "?";
}

Value parse(std::string_view text) { return Parser(text).parse_document(); }

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  out += '"';
  return out;
}

bool is_valid_utf8(std::string_view s) { return first_invalid_utf8(s) == std::string_view::npos; }

}  // namespace ddpm::json
