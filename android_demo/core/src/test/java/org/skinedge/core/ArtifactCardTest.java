package org.skinedge.core;

import static org.hamcrest.CoreMatchers.containsString;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The .pte files beside {@code golden/} (what {@code skinedge export --target executorch} wrote):
 * their integrity hash verifies in Java, the sidecar is the embedded card, and a changed byte,
 * an edited sidecar or a missing card is refused with a message naming the file.
 */
public class ArtifactCardTest {
    private static List<Path> ptes;

    @BeforeClass
    public static void find() throws IOException {
        Path folder = GoldenFolder.fromEnvironment().root.getParent();
        try (Stream<Path> s = Files.list(folder)) {
            ptes = s.filter(p -> p.toString().endsWith(".pte")).sorted().collect(Collectors.toList());
        }
        assertTrue(folder + ": no .pte beside golden/; export with --target executorch", !ptes.isEmpty());
    }

    private static byte[] sidecar(Path pte) {
        return GoldenFolder.bytes(pte.resolveSibling(
                pte.getFileName().toString().replaceAll("\\.pte$", ".card.json")));
    }

    @Test
    public void exportedPteVerifiesAndItsSidecarIsItsCard() {
        for (Path p : ptes) {
            byte[] pte = GoldenFolder.bytes(p);
            String name = p.getFileName().toString();
            String digest = Integrity.verify(pte, name);
            assertEquals(64, digest.length());
            ModelCard card = Integrity.cardOf(name, pte, null, sidecar(p));
            assertEquals(digest, card.integritySha256);
            assertEquals(name, card.artifactFile);
            assertEquals("executorch", card.format);
        }
    }

    @Test
    public void aChangedByteIsCaught() {
        Path p = ptes.get(0);
        byte[] pte = GoldenFolder.bytes(p);
        pte[pte.length / 2] ^= 1;
        String msg = assertThrows(CardException.class,
                () -> Integrity.cardOf("m.pte", pte, null, sidecar(p))).getMessage();
        assertThat(msg, containsString("m.pte: integrity sha256 does not match"));
    }

    @Test
    public void anEditedSidecarIsRefused() {
        Path p = ptes.get(0);
        String side = new String(sidecar(p), StandardCharsets.UTF_8).replace("\"mel\"", "\"MEL\"");
        String msg = assertThrows(CardException.class, () -> Integrity.cardOf("m.pte",
                GoldenFolder.bytes(p), null, side.getBytes(StandardCharsets.UTF_8))).getMessage();
        assertThat(msg, containsString("m.card.json: not the model card embedded in m.pte"));
    }

    @Test
    public void aModelWithoutACardIsRefused() {
        String msg = assertThrows(CardException.class,
                () -> Integrity.cardOf("m.pte", GoldenFolder.bytes(ptes.get(0)), null, null)).getMessage();
        assertThat(msg, containsString("m.pte: no model card"));
        assertThat(msg, containsString("skinedge export"));
    }

    @Test
    public void aCardWhoseHashWasRemovedIsRefused() {
        // A file without any digest, whose card has fields only sealing versions write.
        String card = new String(sidecar(ptes.get(0)), StandardCharsets.UTF_8)
                .replaceAll("\"integrity_sha256\": \"[0-9a-f]{64}\"", "\"integrity_sha256\": \"\"");
        byte[] bytes = card.getBytes(StandardCharsets.UTF_8);
        String msg = assertThrows(CardException.class,
                () -> Integrity.cardOf("m.pte", bytes, null, bytes)).getMessage();
        assertThat(msg, containsString("no integrity_sha256"));
    }
}
