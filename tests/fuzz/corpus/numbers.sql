-- c
SELECT 1e'\';', 0x'1f', $1;