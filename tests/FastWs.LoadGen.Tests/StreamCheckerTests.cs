using FastWs.LoadGen.Scenarios;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// The reconnect scenario's per-channel stream checker, fed hand-made acks and messages: in order, gaps, gap notices,
/// duplicates, out-of-order arrivals, and the seam between a recovered replay and live messages across a drop.
/// </summary>
public sealed class StreamCheckerTests
{
    private static StreamChecker Joined(long position, string epoch = "e1")
    {
        var checker = new StreamChecker("trades:1");
        checker.Subscribed(epoch, position, JoinOutcome.Fresh);
        return checker;
    }

    private static void AssertClean(StreamChecker checker)
    {
        Assert.Equal(0, checker.Gaps);
        Assert.Equal(0, checker.Missing);
        Assert.Equal(0, checker.Duplicates);
        Assert.Equal(0, checker.OutOfOrder);
        Assert.Null(checker.FirstGap);
        Assert.Null(checker.FirstDuplicate);
        Assert.Null(checker.FirstOutOfOrder);
    }

    [Fact]
    public void A_stream_in_order_after_the_ack_is_clean_and_every_message_is_live()
    {
        StreamChecker checker = Joined(10);

        Assert.True(checker.Message(11, snapshot: false));
        Assert.True(checker.Message(12, snapshot: false));
        Assert.True(checker.Message(13, snapshot: false));

        AssertClean(checker);
        Assert.Equal(13, checker.LastSeq);
        Assert.Equal("e1", checker.Epoch);
        Assert.Equal(3, checker.Messages);
        Assert.Equal(0, checker.Replayed);
    }

    [Fact]
    public void A_jump_forward_is_a_gap_counting_the_missing_messages()
    {
        StreamChecker checker = Joined(0);
        checker.Message(1, false);
        checker.Message(2, false);

        Assert.False(checker.Message(6, false));
        Assert.True(checker.Message(7, false));

        Assert.Equal(1, checker.Gaps);
        Assert.Equal(3, checker.Missing);
        Assert.Equal(0, checker.Duplicates);
        Assert.Equal(0, checker.OutOfOrder);
        Assert.Equal("trades:1: seq 6 after 2", checker.FirstGap);
    }

    [Fact]
    public void The_first_message_after_the_ack_must_follow_its_position()
    {
        StreamChecker checker = Joined(41);

        checker.Message(43, false);

        Assert.Equal(1, checker.Gaps);
        Assert.Equal(1, checker.Missing);
    }

    [Fact]
    public void A_repeated_seq_is_a_duplicate()
    {
        StreamChecker checker = Joined(0);
        checker.Message(1, false);
        checker.Message(2, false);

        Assert.False(checker.Message(2, false));
        Assert.False(checker.Message(1, false));
        checker.Message(3, false);

        Assert.Equal(2, checker.Duplicates);
        Assert.Equal(0, checker.Gaps);
        Assert.Equal(0, checker.OutOfOrder);
        Assert.Equal("trades:1: seq 2 after 2", checker.FirstDuplicate);
        Assert.Equal(3, checker.LastSeq);
    }

    [Fact]
    public void A_missing_message_that_turns_up_late_is_out_of_order_not_a_duplicate()
    {
        StreamChecker checker = Joined(0);
        checker.Message(1, false);
        checker.Message(4, false); // 2 and 3 missing

        Assert.False(checker.Message(3, false));
        Assert.False(checker.Message(2, false));
        Assert.False(checker.Message(3, false)); // now seen twice

        Assert.Equal(1, checker.Gaps);
        Assert.Equal(2, checker.OutOfOrder);
        Assert.Equal(1, checker.Duplicates);
        Assert.Equal("trades:1: seq 3 after 4 (missing until then)", checker.FirstOutOfOrder);
    }

    [Fact]
    public void A_message_before_the_subscribe_ack_is_out_of_order()
    {
        var checker = new StreamChecker("trades:1");

        Assert.False(checker.Message(1, false));

        Assert.Equal(1, checker.OutOfOrder);
        Assert.False(checker.HasPosition);
    }

    [Fact]
    public void A_gap_notice_is_one_gap_and_the_jump_after_it_is_not_counted_again()
    {
        StreamChecker checker = Joined(0);
        checker.Message(5, false); // 1..4: a gap
        Assert.Equal(1, checker.Gaps);

        checker.GapNotice(6, 9);
        Assert.True(checker.Message(10, false));

        Assert.Equal(2, checker.Gaps);
        Assert.Equal(1, checker.GapNotices);
        Assert.Equal(8, checker.Missing);
        Assert.Equal(10, checker.LastSeq);
    }

    [Fact]
    public void Replay_then_live_across_a_drop_is_clean_and_the_replay_is_counted()
    {
        StreamChecker checker = Joined(10);
        checker.Message(11, false);
        checker.Message(12, false);

        checker.Dropped();
        Assert.False(checker.Joined);
        Assert.Equal(12, checker.LastSeq); // what goes into since

        // Published while away: 13..20. The ack says 20; the replay brings 13..20, then live 21...
        checker.Subscribed("e1", 20, JoinOutcome.Recovered);
        for (long seq = 13; seq <= 20; seq++)
        {
            Assert.False(checker.Message(seq, false)); // replayed: not live, no latency sample
        }

        Assert.True(checker.Message(21, false));
        Assert.True(checker.Message(22, false));

        AssertClean(checker);
        Assert.Equal(8, checker.Replayed);
        Assert.Equal(1, checker.Recoveries);
        Assert.Equal(0, checker.RecoveryFailures);
    }

    [Fact]
    public void A_recovery_with_nothing_missed_replays_nothing()
    {
        StreamChecker checker = Joined(10);
        checker.Message(11, false);
        checker.Dropped();

        checker.Subscribed("e1", 11, JoinOutcome.Recovered);
        Assert.True(checker.Message(12, false));

        AssertClean(checker);
        Assert.Equal(0, checker.Replayed);
    }

    [Fact]
    public void A_live_message_repeating_the_end_of_the_replay_is_a_duplicate_at_the_seam()
    {
        StreamChecker checker = Joined(12);
        checker.Dropped();
        checker.Subscribed("e1", 15, JoinOutcome.Recovered);
        checker.Message(13, false);
        checker.Message(14, false);
        checker.Message(15, false);

        checker.Message(15, false);
        checker.Message(16, false);

        Assert.Equal(1, checker.Duplicates);
        Assert.Equal(0, checker.Gaps);
        Assert.Equal(3, checker.Replayed);
    }

    [Fact]
    public void A_replay_that_stops_short_of_the_position_leaves_a_gap_at_the_seam()
    {
        StreamChecker checker = Joined(12);
        checker.Dropped();
        checker.Subscribed("e1", 15, JoinOutcome.Recovered);
        checker.Message(13, false);
        checker.Message(14, false);

        checker.Message(16, false); // 15 never came

        Assert.Equal(1, checker.Gaps);
        Assert.Equal(1, checker.Missing);
        Assert.Equal(0, checker.Duplicates);
    }

    [Fact]
    public void Not_recovered_with_a_snapshot_is_a_recovery_failure_and_a_reset_not_a_gap()
    {
        StreamChecker checker = Joined(12);
        checker.Message(13, false);
        checker.Dropped();

        // History did not reach back: the server says so, sends its latest message as a snapshot, then live.
        checker.Subscribed("e1", 2000, JoinOutcome.NotRecovered);
        Assert.False(checker.Message(2000, snapshot: true));
        Assert.True(checker.Message(2001, false));

        AssertClean(checker);
        Assert.Equal(1, checker.RecoveryFailures);
        Assert.Equal(1, checker.Snapshots);
        Assert.Equal(0, checker.Replayed);
        Assert.Equal(2001, checker.LastSeq);
    }

    [Fact]
    public void Not_recovered_after_a_restart_takes_the_new_epoch_without_a_snapshot()
    {
        StreamChecker checker = Joined(500, "old");
        checker.Dropped();

        checker.Subscribed("new", 0, JoinOutcome.NotRecovered);
        Assert.True(checker.Message(1, false));

        AssertClean(checker);
        Assert.Equal("new", checker.Epoch);
        Assert.Equal(1, checker.RecoveryFailures);
    }

    [Fact]
    public void Recovered_into_another_epoch_or_behind_what_was_held_is_out_of_order()
    {
        StreamChecker checker = Joined(10, "e1");
        checker.Dropped();
        checker.Subscribed("e2", 12, JoinOutcome.Recovered);
        Assert.Equal(1, checker.OutOfOrder);

        checker.Message(13, false);
        checker.Dropped();
        checker.Subscribed("e2", 5, JoinOutcome.Recovered);
        Assert.Equal(2, checker.OutOfOrder);
        Assert.Equal(5, checker.LastSeq);
    }
}
