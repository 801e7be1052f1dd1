package ping

import "crypto/rand"

func randomBytes(b []byte) { rand.Read(b) }
