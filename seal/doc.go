// Package seal encrypts values before they leave the process, so that a
// Redis dump, a replica or RedisInsight never shows a token or a session
// secret in clear.
//
// A value is sealed with AES-256-GCM under the first key of a Keyring and
// bound to the name (the Redis key) it is stored under: copied under another
// tenant's or user's key it fails to open with ErrWrongName. Every key of the
// ring opens, so keys rotate by putting a new key first and keeping the old
// ones until the values they sealed have expired.
//
// # Envelope, version 1
//
//	offset  size  field
//	0       1     version, 0x01
//	1       1     n, the length of the key ID (1..32)
//	2       n     key ID, ASCII letters, digits, '.', '_' or '-'
//	2+n     8     name tag: first 8 bytes of HMAC-SHA256(tag key, name)
//	10+n    12    GCM nonce, random
//	22+n    ≥16   AES-256-GCM ciphertext and 16-byte tag
//
// The GCM associated data is the header (bytes 0 to 10+n) followed by the
// name, so the version, the key ID, the name tag and the name are all
// authenticated. The AES key and the tag key are derived from the configured
// 32-byte key with HKDF-SHA256 under distinct labels, so neither is the
// configured key itself.
//
// The name tag exists only to tell a value stored under the wrong name
// (ErrWrongName) from a damaged one (ErrTampered) before decrypting. It costs
// 8 bytes per value and reveals nothing a reader of the store does not
// already see: the name is the Redis key itself. Its limit: an attacker who
// alters the tag bytes gets ErrWrongName rather than ErrTampered. Both errors
// mean the same to a caller (treat the value as absent, log the key, count
// it); the distinction is for the operator reading the log.
//
// Nonces are random, so one key must not seal more than 2^32 values; rotate
// long before that.
package seal
