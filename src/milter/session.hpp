// session.hpp -- one milter connection's state and the logic of every
// milter step, without libmilter.
//
// The libmilter edge (callbacks.cpp) owns one Session per connection: it
// fetches it, calls the method for the step with plain strings, maps the
// returned Step to an SMFIS_* code and sets the reply.  Everything the edge
// used to decide lives here, so unit tests and the fuzz target drive a
// Session exactly as the MTA would.
//
// Steps the MTA does not wait on (SMFIP_NR_*, `NoReply`) never answer: a
// refusal or failure in one is kept as the pending answer and given at the
// next step that replies (RCPT, body, end of message).  The pending answer
// and the size count belong to one transaction: MAIL FROM and abort clear
// them, so nothing leaks into the next message on the same connection.
//
// The edits the stages made are replayed through an EditSink (the MTA's
// smfi_* calls at the edge, a recording or failing sink in tests).  The
// first refused edit stops the replay and the message is answered per
// `on_error`.  The message record is written only after every edit was
// accepted (pipeline.hpp, commit_after_edits): a message the MTA refused
// leaves no record for the client's retry to duplicate.
//
// Errors: no method throws for bad input; an exception from a stage is
// caught by the method and answered per `on_error`.  Each message ends in
// one log line (end of message or refusal).
// Thread safety: one Session is used by one thread at a time (libmilter may
// move a connection between threads, never run two of its steps at once).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mail/message.hpp"
#include "mail/size_guard.hpp"
#include "milter/pipeline.hpp"
#include "milter/runtime.hpp"

namespace ses::milter {

// What the edge answers for one step.
struct Step {
    enum class Kind { next, accept, reject, tempfail, discard };
    Kind kind = Kind::next;
    Reply reply;  // reject / tempfail; empty: the MTA's default text
};

// The MTA's message-change calls.  Each returns false when the MTA refused.
class EditSink {
public:
    virtual ~EditSink() = default;
    virtual bool insert_header(int index, const std::string& name, const std::string& value) = 0;
    virtual bool change_header(const std::string& name, int index, const std::string& value) = 0;
    virtual bool delete_header(const std::string& name, int index) = 0;
    virtual bool quarantine(const std::string& reason) = 0;
    // "<addr>"; `args`: ESMTP MAIL parameters ("ENVID=..."), may be empty.
    virtual bool change_from(const std::string& addr, const std::string& args) = 0;
    virtual bool replace_body(std::string_view chunk) = 0;  // called once per chunk, in order
    // The recipient exactly as given at RCPT (smfi_delrcpt matches it so).
    virtual bool delete_rcpt(const std::string& raw) = 0;
};

// Steps the MTA agreed not to wait on (negotiated SMFIP_NR_* flags).
struct NoReply {
    bool connect = false, helo = false, mail = false, header = false, eoh = false;
};

class Session {
public:
    using RuntimeSource = std::function<std::shared_ptr<const Runtime>()>;

    // leadspc: the MTA passes header values with their leading space.
    // source: the snapshot a transaction uses (taken at MAIL FROM).
    Session(bool leadspc, NoReply nr, RuntimeSource source = current);

    Step connect(std::string client_name, std::string client_addr, std::string daemon_name);
    Step helo(std::string helo);
    Step mail(std::string_view arg, std::string auth_user, std::string queue_id);
    Step rcpt(std::string raw);
    Step header(std::string_view name, std::string_view value);
    Step eoh();
    Step body(std::string_view chunk);
    // End of message: run the pipeline and replay its edits through `sink`.
    Step eom(std::string_view queue_id, EditSink& sink);
    Step abort();

    // An exception escaped a step at the edge: the on_error answer (kept as
    // pending when `noreply`).
    Step internal_failure(std::string_view stage, std::string_view what, bool noreply);

    // A stop is draining the transactions in progress: a new one is refused
    // (421 4.3.2), kept pending for RCPT when MAIL is not waited on.
    Step refuse_transaction();
    bool in_transaction() const { return in_txn_; }

    const NoReply& no_reply() const { return nr_; }
    const mail::Message& message() const { return msg_; }
    bool has_pending() const { return pending_.has_value(); }

private:
    void new_transaction();
    std::optional<Step> take_pending();
    Step refuse_oversize(bool noreply);
    Step finish(const Verdict& v);
    std::string qid() const;
    config::OnError on_error() const;
    template <class F>
    Step guarded(std::string_view stage, bool noreply, F&& f);

    bool leadspc_;
    NoReply nr_;
    RuntimeSource source_;
    std::shared_ptr<const Runtime> rt_;  // taken at MAIL FROM
    mail::Message msg_;
    mail::SizeGuard size_;
    bool in_txn_ = false;
    bool over_ = false;               // past max_message_size
    std::optional<Verdict> pending_;  // answer kept from a no-reply step
    // Connection data, kept across transactions.
    std::string client_addr_, client_name_, helo_, daemon_name_;
};

// Replays a Message's edits through the sink: header edits in the order the
// stages made them, then the body.  Stops at the first refused edit.
Status apply_edits(const mail::Message& msg, bool leadspc, EditSink& sink);

}  // namespace ses::milter
