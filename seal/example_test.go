package seal_test

import (
	"errors"
	"fmt"

	"github.com/tenantgate/tenantgate/seal"
)

func ExampleKeyring() {
	// In production: seal.KeysFromEnv("TENANTGATE_SEAL_KEYS") or
	// seal.KeysFromFile, with the sealing key first.
	kr, err := seal.ParseKeys("2026-02:q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=")
	if err != nil {
		fmt.Println(err)
		return
	}
	const key = "tg1:tc:contoso:uid.utid"
	sealed, err := kr.Seal([]byte(`{"RefreshToken":{}}`), key)
	if err != nil {
		fmt.Println(err)
		return
	}
	plain, err := kr.Open(sealed, key)
	fmt.Println(string(plain), err)

	// The same bytes copied under another user's key do not open.
	_, err = kr.Open(sealed, "tg1:tc:contoso:other.utid")
	fmt.Println(errors.Is(err, seal.ErrWrongName))
	// Output:
	// {"RefreshToken":{}} <nil>
	// true
}

func ExampleKeyring_rotation() {
	oldKey, _ := seal.GenerateKey("2026-01")
	newKey, _ := seal.GenerateKey("2026-02")
	before, _ := seal.NewKeyring(oldKey)
	sealed, _ := before.Seal([]byte("session data"), "tg1:sess:abc")

	// Rotate: the new key seals, the old one still opens what it sealed.
	after, _ := seal.NewKeyring(newKey, oldKey)
	plain, err := after.Open(sealed, "tg1:sess:abc")
	fmt.Println(string(plain), err)
	if id, _ := seal.SealedWith(sealed); id != after.KeyID() {
		fmt.Println("re-seal: sealed with", id, "not", after.KeyID())
	}
	// Output:
	// session data <nil>
	// re-seal: sealed with 2026-01 not 2026-02
}

func ExampleGenerateKey() {
	k, err := seal.GenerateKey("2026-02")
	if err != nil {
		fmt.Println(err)
		return
	}
	// k.Encode() is the line to put in the keys file or environment variable;
	// printing k itself never shows the secret.
	fmt.Println(k)
	// Output: seal.Key(2026-02)
}
