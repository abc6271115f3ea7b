// message.cpp -- see message.hpp.
#include "mail/message.hpp"

#include <stdexcept>

#include "util/strings.hpp"

namespace ses::mail {

size_t Message::size() const {
    size_t n = body_.size();
    for (auto& h : headers_) n += h.name.size() + h.value.size() + 4;
    return n;
}

const std::string& Message::body() const {
    if (!body_.spooled() && !body_.failure()) return body_.memory();
    if (!whole_) {
        auto t = body_.text();
        if (!t) throw std::runtime_error(t.error().what);
        whole_ = std::move(*t);
    }
    return *whole_;
}

const Header* Message::find(std::string_view name, int occurrence) const {
    for (auto& h : headers_)
        if (str::iequals(h.name, name) && --occurrence == 0) return &h;
    return nullptr;
}

int Message::count(std::string_view name) const {
    int n = 0;
    for (auto& h : headers_) n += str::iequals(h.name, name);
    return n;
}

std::optional<std::string> Message::value(std::string_view name) const {
    const Header* h = find(name);
    if (!h) return std::nullopt;
    return unfold(h->value);
}

void Message::insert_header(int index, std::string name, std::string value) {
    size_t pos = index < 0 ? 0 : std::min(static_cast<size_t>(index), headers_.size());
    headers_.insert(headers_.begin() + static_cast<long>(pos), Header{name, " " + value});
    edits_.push_back({Edit::Kind::insert_header, std::move(name), std::move(value), index});
}

void Message::add_header(std::string name, std::string value) {
    headers_.push_back(Header{name, " " + value});
    // An index past the end appends (smfi_insheader), which keeps the edge
    // to one kind of call for added headers.
    edits_.push_back({Edit::Kind::insert_header, std::move(name), std::move(value), 1 << 30});
}

void Message::change_header(std::string_view name, int occurrence, std::string value) {
    int n = occurrence;
    for (auto& h : headers_)
        if (str::iequals(h.name, name) && --n == 0) {
            h.value = " " + value;
            edits_.push_back({Edit::Kind::change_header, std::string(name), std::move(value), occurrence});
            return;
        }
    add_header(std::string(name), std::move(value));
}

void Message::delete_header(std::string_view name, int occurrence) {
    int n = occurrence;
    for (auto it = headers_.begin(); it != headers_.end(); ++it)
        if (str::iequals(it->name, name) && --n == 0) {
            headers_.erase(it);
            edits_.push_back({Edit::Kind::delete_header, std::string(name), {}, occurrence});
            return;
        }
}

void Message::delete_all(std::string_view name) {
    // Delete from the last occurrence backwards so the MTA-side indexes of
    // the remaining ones stay valid while the edits are replayed.
    for (int k = count(name); k >= 1; --k) delete_header(name, k);
}

void Message::replace_body(std::string body) {
    whole_.reset();
    body_.assign(std::move(body));
    edits_.push_back({Edit::Kind::replace_body, {}, {}, 0});
}

void Message::quarantine(std::string reason) { edits_.push_back({Edit::Kind::quarantine, {}, std::move(reason), 0}); }

void Message::delete_rcpt(size_t i) {
    if (i >= env.rcpts.size()) return;
    std::string raw = i < env.rcpt_raw.size() ? env.rcpt_raw[i] : "<" + env.rcpts[i] + ">";
    env.rcpts.erase(env.rcpts.begin() + static_cast<std::ptrdiff_t>(i));
    if (i < env.rcpt_raw.size()) env.rcpt_raw.erase(env.rcpt_raw.begin() + static_cast<std::ptrdiff_t>(i));
    edits_.push_back({Edit::Kind::delete_rcpt, std::move(raw), {}, 0});
}

void Message::change_from(std::string sender, std::string esmtp_args) {
    env.mail_from = sender;
    edits_.push_back({Edit::Kind::change_from, std::move(sender), std::move(esmtp_args), 0});
}

std::string unfold(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\r' || c == '\n') continue;
        out += (c == '\t') ? ' ' : c;
    }
    return std::string(str::trim(out));
}

}  // namespace ses::mail
