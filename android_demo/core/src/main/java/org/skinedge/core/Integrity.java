package org.skinedge.core;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The .pte's integrity hash ({@code skinedge.integrity/1}, skinedge/card.py) and where its card
 * comes from. The digest is the sha256 of the file's bytes with every occurrence of the digest
 * read as 64 zeros; it covers the embedded card, so a changed label, calibration or graph is
 * caught before anything is shown. The sidecar {@code <name>.card.json} must be a byte copy of
 * the embedded card, and a file holding more than one card is refused.
 */
public final class Integrity {
    private static final String ZEROS = new String(new char[64]).replace('\0', '0');
    private static final Pattern SEALED = Pattern.compile("\"integrity_sha256\": \"([0-9a-f]{64})\"");
    /** Card fields only skinedge versions that seal every card write (card.SEALED_ERA_FIELDS). */
    private static final String[] SEALED_ERA_FIELDS = {"calibration", "referral", "gate", "intended_use",
        "image_limits", "malignant_labels"};

    private Integrity() {
    }

    /**
     * The digest written in {@code pte}, checked against its bytes; "" when it has none (an
     * export from before integrity hashes). Throws CardException when it does not match.
     */
    public static String verify(byte[] pte, String name) {
        // ISO-8859-1 maps bytes to chars one to one, so the regex sees the raw bytes.
        Matcher m = SEALED.matcher(new String(pte, StandardCharsets.ISO_8859_1));
        List<String> found = new ArrayList<>();
        while (m.find()) {
            found.add(m.group(1));
        }
        if (found.size() > 1) {  // an export writes one card: a second was appended
            throw new CardException(name + ": corrupt: " + found.size() + " model cards' "
                    + "integrity hashes in it, where an export writes one; export it again");
        }
        if (found.isEmpty()) {
            return "";
        }
        String digest = found.get(0);
        if (!digest.equals(sha256Hex(replace(pte, digest.getBytes(StandardCharsets.US_ASCII),
                ZEROS.getBytes(StandardCharsets.US_ASCII))))) {
            throw new CardException(name + ": integrity sha256 does not match the model card "
                    + "embedded in it: the file was changed, corrupted or truncated after export; "
                    + "export it again");
        }
        return digest;
    }

    /**
     * The card of a .pte: {@code embedded} (the bytes its {@code model_card} method returns; null
     * when it has none) or else {@code sidecar} (null when absent). The file's integrity is
     * verified first; a sidecar must be the embedded card byte for byte. Throws CardException
     * naming the file when there is no card, or the card is not this file's.
     */
    public static ModelCard cardOf(String name, byte[] pte, byte[] embedded, byte[] sidecar) {
        String digest = verify(pte, name);
        String sideName = name.replaceAll("\\.pte$", "") + ".card.json";
        if (embedded == null && sidecar == null) {
            throw new CardException(name + ": no model card (neither " + sideName + " nor a "
                    + "'model_card' method); export it with `skinedge export --target executorch`");
        }
        // The sidecar must be the model_card constant itself, byte for byte: finding its bytes
        // somewhere in the file is all that can be checked when the method is not at hand.
        byte[] side = sidecar == null ? null : stripTrailingWhitespace(sidecar);
        if (side != null && (embedded != null ? !Arrays.equals(side, embedded) : !contains(pte, side))) {
            throw new CardException(sideName + ": not the model card embedded in " + name
                    + ": the sidecar was edited or belongs to another export; copy the pair "
                    + "that skinedge export wrote");
        }
        ModelCard card = embedded != null ? ModelCard.parse(embedded, name + ":model_card")
                : ModelCard.parse(sidecar, sideName);
        if (!digest.isEmpty() && !digest.equals(card.integritySha256)) {
            throw new CardException(name + ": its model card's integrity_sha256 is not the digest "
                    + "the file carries; export it again");
        }
        if (digest.isEmpty()) {
            String why = mustBeSealed(card);
            if (!why.isEmpty()) {
                throw new CardException(name + ": its model card has no integrity_sha256, but "
                        + why + ": the hash was removed, so its labels or preprocessing may have "
                        + "been edited; refused. Use the file as skinedge wrote it, or export it "
                        + "again");
            }
        }
        return card;
    }

    /** card.py _must_be_sealed: why a card's writer sealed it, "" when it may predate hashes. */
    static String mustBeSealed(ModelCard card) {
        for (String f : SEALED_ERA_FIELDS) {
            if (card.json.has(f)) {
                return "it has the field '" + f + "', which only versions that seal their cards write";
            }
        }
        String version = card.json.optJSONObject("software") == null ? ""
                : card.json.optJSONObject("software").optString("skinedge", "");
        Matcher m = Pattern.compile("^(\\d+)\\.(\\d+)").matcher(version);
        if (m.find() && (Integer.parseInt(m.group(1)) > 0 || Integer.parseInt(m.group(2)) >= 2)) {
            return "it was written by skinedge " + version + ", which seals every card it writes";
        }
        return "";
    }

    public static String sha256Hex(byte[] data) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(data);
            StringBuilder sb = new StringBuilder();
            for (byte b : h) {
                sb.append(String.format("%02x", b));
            }
            return sb.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java platform", e);
        }
    }

    /** {@code data} with every non-overlapping occurrence of {@code from}, left to right, replaced. */
    static byte[] replace(byte[] data, byte[] from, byte[] to) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(data.length);
        int i = 0, start = 0;
        while ((i = indexOf(data, from, i)) >= 0) {
            out.write(data, start, i - start);
            out.write(to, 0, to.length);
            i += from.length;
            start = i;
        }
        out.write(data, start, data.length - start);
        return out.toByteArray();
    }

    static boolean contains(byte[] data, byte[] needle) {
        return indexOf(data, needle, 0) >= 0;
    }

    private static int indexOf(byte[] data, byte[] needle, int from) {
        outer:
        for (int i = from; i <= data.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (data[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    private static byte[] stripTrailingWhitespace(byte[] b) {
        int n = b.length;
        while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r' || b[n - 1] == ' ' || b[n - 1] == '\t')) {
            n--;
        }
        return Arrays.copyOf(b, n);
    }
}
