/* rules.h - the validation rules of the manifest (README "Validation
 * rules").  rules_check() walks the parsed documents of one manifest,
 * reports every problem to d, and fills the model in m. */
#ifndef BITSYNC_RULES_H
#define BITSYNC_RULES_H

#include <stddef.h>

#include "diag.h"
#include "model.h"
#include "ytree.h"

/* Rule ids: a public contract, matched by pipelines. */
#define RULE_YAML_SYNTAX		"yaml-syntax"
#define RULE_YAML_FEATURE		"yaml-feature"
#define RULE_DUPLICATE_KEY		"duplicate-key"
#define RULE_SCHEMA			"schema"
#define RULE_VERSION			"version"
#define RULE_UNC_ONLY			"unc-only"
#define RULE_NO_DRIVE_LETTER		"no-drive-letter"
#define RULE_USER_PROFILE_PATH		"user-profile-path"
#define RULE_NETWORK_IDENTITY		"network-identity"
#define RULE_PROXY_SCOPE		"proxy-scope"
#define RULE_UNKNOWN_SOURCE		"unknown-source"
#define RULE_DUPLICATE_NAME		"duplicate-name"
#define RULE_DUPLICATE_DESTINATION	"duplicate-destination"
#define RULE_PATH_TRAVERSAL		"path-traversal"
#define RULE_INLINE_SECRET		"inline-secret"
#define RULE_INSECURE_TRANSPORT		"insecure-transport"
#define RULE_ANONYMOUS_COMPUTER		"anonymous-computer"
/* Added beyond the brief's table (README says why): */
#define RULE_DESTINATION_PLATFORM	"destination-platform"
#define RULE_DESTINATION_ROOT		"destination-root"
#define RULE_FILE_PERMISSIONS		"file-permissions"
#define RULE_IO_ERROR			"io-error"
#define RULE_INSECURE_CREDENTIALS	"insecure-credentials"

/* dropin[i]: docs[i] came from a drop-in directory, so it may hold only
 * sources or only sets; a lone manifest file needs both. */
void rules_check(struct ydoc *const *docs, const unsigned char *dropin,
    size_t ndocs,
    const struct manifest_opts *opts, struct manifest *m, struct diags *d);

#endif
