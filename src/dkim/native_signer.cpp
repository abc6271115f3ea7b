// native_signer.cpp -- see native_signer.hpp.
#include "dkim/native_signer.hpp"

#include <ctime>
#include <memory>

#include <openssl/evp.h>

#include "crypto/encoding.hpp"
#include "dkim/key_cache.hpp"

namespace ses::dkim {
namespace {

struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

constexpr size_t kMargin = 75;    // the longest line, in columns
constexpr size_t kFirstCol = 16;  // "DKIM-Signature: "
constexpr size_t kTabCols = 8;

std::string_view canon_name(Canon c) { return c == Canon::relaxed ? "relaxed" : "simple"; }

// The b= value as it follows "\tb=" (column 10): lines filled to kMargin,
// continued with "\r\n\t ".
std::string fold_signature(std::string_view b64) {
    std::string out;
    out.reserve(b64.size() + b64.size() / 32 + 8);
    size_t col = kTabCols + 2;
    for (size_t i = 0; i < b64.size();) {
        if (col >= kMargin) {
            out += "\r\n\t ";
            col = kTabCols + 1;
        }
        size_t n = std::min(b64.size() - i, kMargin - col);
        out.append(b64.data() + i, n);
        col += n;
        i += n;
    }
    return out;
}

// Folds tags into lines as libopendkim does: a tag goes on the current
// line when it fits whole, else it starts a new one.
class Folder {
public:
    void tag(std::string_view t) {  // "x=value;" without the leading space
        // libopendkim leaves the ';' out of the fit, so a line may reach
        // kMargin + 1 columns.
        if (!start_ && col_ + t.size() > kMargin) {
            newline(false);
        } else if (!start_) {
            out_ += ' ';
            ++col_;
        }
        start_ = false;
        out_ += t;
        col_ += t.size();
    }
    // h=: the names, broken after a colon when the next one does not fit.
    void names(const std::vector<std::string>& h) {
        std::string whole = "h=";
        for (size_t i = 0; i < h.size(); ++i) whole += h[i] + (i + 1 < h.size() ? ":" : ";");
        if (col_ + whole.size() <= kMargin) return tag(whole);
        newline(false);
        out_ += "h=";
        col_ += 2;
        start_ = false;
        for (size_t i = 0; i < h.size(); ++i) {
            std::string item = h[i] + (i + 1 < h.size() ? ":" : ";");
            // The fit counts a name's ':' out but the last one's ';' in.
            size_t need = item.size() - (i + 1 < h.size() ? 1 : 0);
            if (i > 0 && col_ + need > kMargin) newline(true);
            out_ += item;
            col_ += item.size();
        }
    }
    // b= always starts a line; the value is cut wherever the line is full
    // (fold_signature).
    void signature(std::string_view b64) {
        newline(false);
        out_ += "b=";
        out_ += fold_signature(b64);
    }
    std::string take() { return std::move(out_); }

private:
    void newline(bool space) {
        out_ += "\r\n\t";
        col_ = kTabCols;
        start_ = true;
        if (space) {
            out_ += ' ';
            ++col_;
        }
    }
    std::string out_;
    size_t col_ = kFirstCol;
    bool start_ = true;  // nothing on this line yet: no separating space
};

std::string b64(const unsigned char* p, size_t n) {
    return crypto::base64_encode(std::string_view(reinterpret_cast<const char*>(p), n));
}

// The CRLF folds of the header text become bare LF for libmilter.
std::string milter_value(const std::string& text) {
    std::string v;
    v.reserve(text.size());
    for (char c : text)
        if (c != '\r') v += c;
    return v;
}

}  // namespace

std::string signature_text(std::string_view alg, Canon hc, Canon bc, std::string_view domain, std::string_view selector,
                           uint64_t t, std::string_view bh, const std::vector<std::string>& h,
                           std::string_view b64sig) {
    Folder f;
    f.tag("v=1;");
    f.tag("a=" + std::string(alg) + ";");
    f.tag("c=" + std::string(canon_name(hc)) + "/" + std::string(canon_name(bc)) + ";");
    f.tag("d=" + std::string(domain) + ";");
    f.tag("s=" + std::string(selector) + ";");
    f.tag("t=" + std::to_string(t) + ";");
    f.tag("bh=" + std::string(bh) + ";");
    f.names(h);
    f.signature(b64sig);
    return f.take();
}

Result<std::unique_ptr<Signer>> NativeSigner::create(const config::Config& cfg) {
    std::unique_ptr<NativeSigner> s(new NativeSigner());
    s->header_ = cfg.dkim.header_relaxed ? Canon::relaxed : Canon::simple;
    s->body_ = cfg.dkim.body_relaxed ? Canon::relaxed : Canon::simple;
    s->lists_ = header_lists(cfg);
    return std::unique_ptr<Signer>(std::move(s));
}

Result<std::vector<std::string>> NativeSigner::sign(const mail::Message& msg, const DomainKeys& dk) const {
    if (dk.keys.empty()) return std::vector<std::string>{};
    // The body hash: one pass over the body, one SHA-256 (every key of the
    // domain shares the configured body canonicalisation).
    MdCtx body_md(EVP_MD_CTX_new());
    if (!body_md || EVP_DigestInit_ex(body_md.get(), EVP_sha256(), nullptr) != 1)
        return internal_error("native signer: SHA-256 init failed");
    bool hash_ok = true;
    BodyCanon canon(body_, [&](std::string_view span) {
        if (EVP_DigestUpdate(body_md.get(), span.data(), span.size()) != 1) hash_ok = false;
    });
    auto fed = msg.read_body([&](std::string_view chunk) -> Status {
        canon.feed(chunk);
        return ok_status();
    });
    if (!fed) return fed.error();
    canon.finish();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (!hash_ok || EVP_DigestFinal_ex(body_md.get(), digest, &dlen) != 1)
        return internal_error("native signer: body hash failed");
    const std::string bh = b64(digest, dlen);

    // The signed header fields, canonicalised once for all keys.
    std::vector<HeaderField> fields;
    fields.reserve(msg.headers().size());
    for (auto& h : msg.headers()) fields.push_back({h.name, h.value});
    HeaderSelection sel = select_headers(fields, lists_.sign, lists_.oversign);
    std::string signed_headers;
    signed_headers.reserve(1024);
    for (size_t k : sel.order) canon_header(header_, fields[k].name, fields[k].value, signed_headers);

    const uint64_t t = fixed_time_ ? fixed_time_ : static_cast<uint64_t>(std::time(nullptr));
    std::vector<std::string> sigs;
    sigs.reserve(dk.keys.size());
    std::string data;
    for (auto& key : dk.keys) {
        const bool ed = key.algorithm == Algorithm::ed25519_sha256;
        EVP_PKEY* pkey = cached_pkey(key.cached);
        if (!pkey)
            return internal_error("signing for " + dk.domain + " with selector " + key.selector + " (" + key.path +
                                  "): the key is not loaded");
        const std::string_view alg = algorithm_name(key.algorithm);
        std::string unsigned_text = signature_text(alg, header_, body_, dk.domain, key.selector, t, bh, sel.names, {});
        // The header data: the selected fields, then this signature's own
        // field with b= empty and without its CRLF (RFC 6376 3.7).
        data = signed_headers;
        canon_header(header_, "DKIM-Signature", " " + unsigned_text, data);
        data.resize(data.size() - 2);

        MdCtx ctx(EVP_MD_CTX_new());
        if (!ctx) return internal_error("native signer: out of memory");
        std::string sig;
        size_t siglen = 0;
        bool ok;
        if (ed) {
            // RFC 8463: PureEdDSA over the SHA-256 of the header data.
            unsigned char hash[32];
            ok = EVP_Digest(data.data(), data.size(), hash, nullptr, EVP_sha256(), nullptr) == 1 &&
                 EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey) == 1 &&
                 EVP_DigestSign(ctx.get(), nullptr, &siglen, hash, sizeof hash) == 1;
            if (ok) {
                sig.resize(siglen);
                ok = EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &siglen, hash,
                                    sizeof hash) == 1;
            }
        } else {
            ok = EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
                 EVP_DigestSignUpdate(ctx.get(), data.data(), data.size()) == 1 &&
                 EVP_DigestSignFinal(ctx.get(), nullptr, &siglen) == 1;
            if (ok) {
                sig.resize(siglen);
                ok = EVP_DigestSignFinal(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &siglen) == 1;
            }
        }
        if (!ok)
            return internal_error("signing for " + dk.domain + " with selector " + key.selector + " (" + key.path +
                                  ") failed in OpenSSL");
        sig.resize(siglen);
        std::string b = b64(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
        // The text up to "b=" is the one just hashed: only b= is added.
        sigs.push_back(milter_value(unsigned_text + fold_signature(b)));
    }
    return sigs;
}

}  // namespace ses::dkim
