package io.cmamba.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class LrScheduleTest {
    @Test
    void warmUpIsLinearFromPeakOverWarmup() {
        LrSchedule s = new LrSchedule(LrSchedule.Kind.COSINE, 1e-3, 4, 20, 0);
        assertEquals(0.25e-3, s.at(1), 1e-18);
        assertEquals(0.5e-3, s.at(2), 1e-18);
        assertEquals(1e-3, s.at(4), 1e-18);
    }

    @Test
    void cosineRunsFromPeakToFloorAndStaysThere() {
        LrSchedule s = new LrSchedule(LrSchedule.Kind.COSINE, 2.0, 10, 110, 0.1);
        assertEquals(2.0, s.at(11), 1e-12);            // first update after the warm-up
        assertEquals(0.2, s.at(110), 1e-12);           // the last runs at the floor
        assertEquals(0.2, s.at(500), 1e-12);
        // half way (update 60.5 of 11..110): (peak + floor) / 2
        double mid = 0.5 * (s.at(60) + s.at(61));
        assertEquals(1.1, mid, 2e-3);
        for (long t = 12; t <= 110; t++) assertTrue(s.at(t) < s.at(t - 1), "not decreasing at " + t);
    }

    @Test
    void constantKeepsThePeakAfterWarmup() {
        LrSchedule s = new LrSchedule(LrSchedule.Kind.CONSTANT, 5e-4, 2, 100, 0);
        assertEquals(2.5e-4, s.at(1), 1e-18);
        for (long t = 2; t <= 150; t++) assertEquals(5e-4, s.at(t), 0);
    }

    @Test
    void noWarmupStartsAtThePeak() {
        assertEquals(3.0, new LrSchedule(LrSchedule.Kind.COSINE, 3.0, 0, 10, 0).at(1), 0);
        assertEquals(3.0, new LrSchedule(LrSchedule.Kind.COSINE, 3.0, 0, 1, 0).at(1), 0);
    }

    @Test
    void badArgumentsNameTheValue() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new LrSchedule(LrSchedule.Kind.COSINE, -1, 0, 10, 0));
        assertTrue(e.getMessage().contains("-1"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(LrSchedule.Kind.COSINE, 1, -1, 10, 0));
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(LrSchedule.Kind.COSINE, 1, 0, 10, 2));
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(LrSchedule.Kind.CONSTANT, 1, 0, 10, 0).at(0));
    }
}
