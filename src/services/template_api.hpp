// template_api.hpp -- templates over the JSON API and sesctl: the
// documents (one builder each, so `sesctl template preview --json` and
// /v1/templates cannot drift apart), the shared operations (a request
// parsed and checked, a template stored keeping its id and created time, a
// preview rendered by the milter's own render step) and the routes.
//
// Routes (docs/api.md, "Templates"): GET /v1/templates; GET
// /v1/templates/{id|name}; POST /v1/templates {TemplateName, Subject, Html,
// Text, DefaultData, Strict} (create or replace) -> {TemplateID,
// TemplateName, Result}; DELETE /v1/templates/{id|name}; POST
// /v1/templates/{id|name}/preview {TemplateData} -> {Subject, Html, Text}.
//
// Errors: a bad request, a template that does not parse (the part, line
// and column) and a preview that does not render (a missing variable
// named) are 400 with {"error": ...}; an unknown template 404; a store
// failure 500.  Thread safety: handlers run on the server's threads; the
// template store is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "services/http_router.hpp"
#include "services/services.hpp"
#include "template/lmdb_store.hpp"
#include "template/render.hpp"
#include "template/template.hpp"
#include "util/result.hpp"

namespace ses::services::templates {

using nlohmann::json;

// {TemplateID, TemplateName, Subject, HasHtml, HasText, Strict, CreateTime, UpdateTime}
json info(const tmpl::Template& t);
// info() plus Html, Text (null when absent) and DefaultData (an object or null).
json document(const tmpl::Template& t);
// {TemplateID, TemplateName, Subject, Html, Text}: the rendered parts.
json preview_document(const tmpl::Template& t, const tmpl::Rendered& r);

// A POST /v1/templates body as a checked Template (tmpl::check: a part that
// does not parse is an Error naming the part, line and column).
Result<tmpl::Template> from_request(std::string_view body);

enum class Stored { added, replaced, unchanged };
const char* stored_name(Stored s);
// Insert or replace, keeping `created` (and the id, the store's job) of a
// template it replaces and leaving an identical one untouched.
Result<Stored> store(tmpl::TemplateStore& st, tmpl::Template t, int64_t now);

// TemplateData as the product sends it: an object, or a JSON string of one;
// absent (null) is {}.
Result<json> template_data(const json& j);

// The parts as the milter renders them for a message (tmpl::render_for_message)
// with {{unsubscribe_url}} empty, as for a message without an unsubscribe link.
Result<tmpl::Rendered> preview(const tmpl::Template& t, json data, uint64_t max_message_size);

// The template named by a path segment: a decimal id when a template has
// it, else a name.
Result<std::optional<tmpl::Template>> lookup(const tmpl::LmdbTemplateStore& st, std::string_view id_or_name);

void add_routes(http::Router& router, std::shared_ptr<Services> s);

}  // namespace ses::services::templates
