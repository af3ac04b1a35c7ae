import numpy as np
import torch

from yolo_smol.grouped import pad_by_group, rank_in_group


def test_ranks_count_up_within_each_group_for_tensors_and_arrays():
    group = [0, 0, 0, 2, 2, 5, 7, 7, 7, 7]
    expected = [0, 1, 2, 0, 1, 0, 0, 1, 2, 3]
    assert rank_in_group(torch.tensor(group)).tolist() == expected
    ranked = rank_in_group(np.array(group))
    assert isinstance(ranked, np.ndarray) and ranked.tolist() == expected
    assert rank_in_group(torch.zeros(0, dtype=torch.long)).shape == (0,)


def test_ranks_equal_a_loop_over_random_groupings():
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        counts = torch.randint(0, 5, (8,), generator=generator)
        group = torch.repeat_interleave(torch.arange(8), counts)
        expected = [int((group[:i] == group[i]).sum()) for i in range(len(group))]
        assert rank_in_group(group).tolist() == expected


def test_padding_puts_each_row_in_its_groups_line():
    values = torch.tensor([[1.0, 1], [2, 2], [3, 3]])
    group = torch.tensor([0, 2, 2])
    table, valid, rank = pad_by_group(values, group, num_groups=4, fill=-1.0)
    assert table.shape == (4, 2, 2) and rank.tolist() == [0, 0, 1]
    assert table[0, 0].tolist() == [1, 1] and table[2, 1].tolist() == [3, 3]
    assert valid.tolist() == [[True, False], [False, False], [True, True], [False, False]]
    assert (table[~valid] == -1).all()
    empty, none_valid, _ = pad_by_group(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), 3)
    assert empty.shape == (3, 1, 4) and not none_valid.any()


def test_one_group_gives_the_same_table_as_the_general_layout():
    # One group (a single photo) takes a shortcut with no scatter; the table, the valid
    # mask and the ranks must be those of the general layout's first line.
    generator = torch.Generator().manual_seed(1)
    for count in (0, 1, 7):
        values = torch.rand(count, 5, generator=generator)
        group = torch.zeros(count, dtype=torch.long)
        table, valid, rank = pad_by_group(values, group, num_groups=1, fill=-2.0)
        general, general_valid, general_rank = pad_by_group(values, group, num_groups=2,
                                                            fill=-2.0)
        assert torch.equal(table, general[:1]) and torch.equal(valid, general_valid[:1])
        assert torch.equal(rank, general_rank)
        assert table.dtype == values.dtype and valid.dtype == torch.bool


def test_ordering_within_groups_equals_pythons_stable_sort():
    from yolo_smol.grouped import order_within_groups

    generator = torch.Generator().manual_seed(3)
    group = torch.randint(0, 5, (60,), generator=generator)  # not grouped: any order
    key = torch.randint(0, 6, (60,), generator=generator).float()  # many ties
    for descending in (False, True):
        sign = -1 if descending else 1
        expected = sorted(range(60), key=lambda row: (int(group[row]), sign * float(key[row])))
        assert order_within_groups(key, group, descending).tolist() == expected
