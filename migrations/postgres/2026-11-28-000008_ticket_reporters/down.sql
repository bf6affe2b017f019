DROP TABLE ticket_reporters;
DROP TABLE reporters;
