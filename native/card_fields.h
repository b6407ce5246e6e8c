// The two model-card fields the native runner checks against a .pte's own shapes: input_size
// and the number of labels, read from the card's top-level JSON object (skinedge/card.py writes
// it; every other field is skipped whole, nested objects, arrays and escapes included).
#pragma once

#include <cctype>
#include <cstdlib>
#include <string>

namespace skinedge {

struct CardFields {
  long input_size = -1;
  long labels = -1;
};

class CardReader {
 public:
  explicit CardReader(const std::string& text) : s_(text) {}

  // "" when both fields were found, else what is wrong.
  std::string read(CardFields* out) {
    space();
    if (!eat('{')) return "not a JSON object";
    space();
    while (!eat('}')) {
      std::string key;
      if (!string(&key)) return "a key is not a string";
      space();
      if (!eat(':')) return "no ':' after \"" + key + "\"";
      space();
      if (key == "input_size") {
        if (!number(&out->input_size)) return "input_size is not an integer";
      } else if (key == "labels") {
        if (!count_strings(&out->labels)) return "labels is not a list of strings";
      } else if (!skip()) {
        return "cannot read the value of \"" + key + "\"";
      }
      space();
      if (!eat(',')) {
        space();
        if (!eat('}')) return "no ',' or '}' after \"" + key + "\"";
        break;
      }
      space();
    }
    if (out->input_size < 1) return "no input_size";
    if (out->labels < 1) return "no labels";
    return "";
  }

 private:
  const std::string& s_;
  size_t i_ = 0;

  bool at_end() const { return i_ >= s_.size(); }
  void space() {
    while (!at_end() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(char c) {
    if (at_end() || s_[i_] != c) return false;
    ++i_;
    return true;
  }
  bool string(std::string* out) {
    if (!eat('"')) return false;
    while (!at_end() && s_[i_] != '"') {
      if (s_[i_] == '\\') ++i_;  // the escaped character is kept as it is: keys have none
      if (!at_end()) out->push_back(s_[i_++]);
    }
    return eat('"');
  }
  bool number(long* out) {
    size_t start = i_;
    while (!at_end() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-')) ++i_;
    if (i_ == start || (!at_end() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E'))) {
      return false;
    }
    *out = std::strtol(s_.substr(start, i_ - start).c_str(), nullptr, 10);
    return true;
  }
  bool count_strings(long* n) {
    *n = 0;
    if (!eat('[')) return false;
    space();
    if (eat(']')) return true;
    for (;;) {
      std::string item;
      space();
      if (!string(&item)) return false;
      ++*n;
      space();
      if (eat(']')) return true;
      if (!eat(',')) return false;
    }
  }
  // Any JSON value: strings with escapes, nested containers, numbers and literals.
  bool skip() {
    if (at_end()) return false;
    if (s_[i_] == '"') {
      std::string ignored;
      return string(&ignored);
    }
    if (s_[i_] == '{' || s_[i_] == '[') {
      int depth = 0;
      while (!at_end()) {
        char c = s_[i_];
        if (c == '"') {
          std::string ignored;
          if (!string(&ignored)) return false;
          continue;
        }
        ++i_;
        if (c == '{' || c == '[') ++depth;
        if ((c == '}' || c == ']') && --depth == 0) return true;
      }
      return false;
    }
    size_t start = i_;
    while (!at_end() && s_[i_] != ',' && s_[i_] != '}' && s_[i_] != ']' &&
           !std::isspace(static_cast<unsigned char>(s_[i_]))) {
      ++i_;
    }
    return i_ > start;
  }
};

inline std::string parse_card_fields(const std::string& text, CardFields* out) {
  return CardReader(text).read(out);
}

}  // namespace skinedge
