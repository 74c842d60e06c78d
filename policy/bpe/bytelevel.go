package bpe

// The byte-level alphabet of GPT-2 (bytes_to_unicode in openai/gpt-2's
// encoder.py, ByteLevel in Hugging Face tokenizers): every byte maps to one
// printable rune. The printable Latin-1 bytes '!'..'~', '¡'..'¬' and '®'..'ÿ'
// map to themselves; the other 68 bytes map, in increasing order, to
// U+0100, U+0101, ...

var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
)

func init() {
	n := rune(0)
	for b := 0; b < 256; b++ {
		switch {
		case b >= '!' && b <= '~', b >= 0xA1 && b <= 0xAC, b >= 0xAE && b <= 0xFF:
			byteToRune[b] = rune(b)
		default:
			byteToRune[b] = 256 + n
			n++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// byteLevel maps the bytes of s to the byte-level alphabet.
func byteLevel(s string) string {
	out := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = byteToRune[s[i]]
	}
	return string(out)
}

// byteLevelDecode appends the bytes of one token to dst, as the ByteLevel
// decoder of Hugging Face tokenizers does: when every rune of the token is
// in the byte-level alphabet, the bytes it stands for; otherwise (an added
// token such as "<|im_start|>" written in ordinary text) the token's own
// UTF-8 bytes.
func byteLevelDecode(dst []byte, tok string) []byte {
	start := len(dst)
	for _, r := range tok {
		b, ok := runeToByte[r]
		if !ok {
			return append(dst[:start], tok...)
		}
		dst = append(dst, b)
	}
	return dst
}
